"""Whole-pipeline check of the torch backend: on synthetic POD photos it reads what ONNX Runtime reads."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import Levenshtein

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from podocr.config import PodocrConfig
from podocr.ocr.pipeline import OcrPipeline
from podocr.ocr.registry import ModelError, resolve
from podocr.synth import render_photo

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")]

SEED = 29
N_PHOTOS = 3


def test_torch_backend_reads_the_same_lines_as_onnxruntime() -> None:
    cfg = PodocrConfig().replace(engine__intra_op_threads=1, engine__backend="onnxruntime")
    try:
        resolve(cfg.models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")
    photos = [render_photo(SEED, i, max_side=1600)[0] for i in range(N_PHOTOS)]
    ort_pages = OcrPipeline.from_config(cfg).run(photos)
    torch_pipeline = OcrPipeline.from_config(cfg.replace(engine__backend="torch"))
    assert set(torch_pipeline.info()["providers"].values()) == {"torch-cpu/fp32"}
    torch_pages = torch_pipeline.run(photos)

    total_chars = sum(len(p.full_text) for p in ort_pages)
    assert total_chars > 100, "the photos must hold text for this comparison to mean anything"
    for i, (a, b) in enumerate(zip(ort_pages, torch_pages, strict=True)):
        assert (a.rotation, a.roi) == (b.rotation, b.roi), f"photo {i}: different page plan"
        # fp32 on both sides, ~1e-5 apart: the same boxes and strings, barring a score sitting on a threshold
        assert abs(len(a.lines) - len(b.lines)) <= 1, f"photo {i}: {len(a.lines)} vs {len(b.lines)} lines"
        distance = Levenshtein.distance(a.full_text, b.full_text)
        assert distance <= max(2, len(a.full_text) // 100), f"photo {i}: edit distance {distance}"
