"""The torch engine backend on CPU: agreement with ONNX Runtime, provider selection, fp16 validation.

Runs on the real pinned models (`podocr models pull`). The default model set is checked on every run; the
other sets are `slow`. No GPU is needed: CUDA requests exercise the error / fallback paths, and fp16 runs as
real half-precision arithmetic on the CPU, where the PP-OCRv4 detector overflows exactly as on a GPU.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")
import torch

from podocr.config import EngineConfig, PodocrConfig
from podocr.ocr.registry import ModelError, ModelSet, resolve
from podocr.ocr.runtime.engine import Engine, EngineError, create_engine, relative_error
from podocr.ocr.runtime.engine_torch import TorchEngine, det_norm_for, select_device
from podocr.ocr.runtime.fp16 import calibration_batches, validate_precision

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")]

DEFAULT_SET = PodocrConfig().models.set
OTHER_SETS = ["v4", "v5", "v6-tiny"]
# fp32 torch vs ONNX Runtime (both CPU) on the calibration batches; measured max abs ≤ 1.2e-4 det, 1.3e-5 rec.
MAX_ABS = {"det": 1e-3, "rec": 1e-3, "cls": 1e-4}


def _models(name: str) -> ModelSet:
    try:
        return resolve(PodocrConfig().replace(models__set=name).models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")


def _engine_cfg(**kw: object) -> EngineConfig:
    kw.setdefault("backend", "onnxruntime")  # the reference the torch engines are held to: ONNX Runtime fp32
    return (
        PodocrConfig()
        .replace(engine__intra_op_threads=1, **{f"engine__{k}": v for k, v in kw.items()})
        .engine
    )


def _paths(models: ModelSet) -> dict[str, Path]:
    out = {"det": models.det, "rec": models.rec}
    if models.cls is not None:
        out["cls"] = models.cls
    return out


def _agreement(name: str) -> None:
    models = _models(name)
    for role, path in _paths(models).items():
        ort_engine = create_engine(path, _engine_cfg(backend="onnxruntime"), role)
        torch_engine = create_engine(path, _engine_cfg(backend="torch"), role)
        for x in calibration_batches(role, models.det_norm, models.rec_height):
            ref, out = ort_engine.run(x), torch_engine.run(x)
            assert out.shape == ref.shape and out.dtype == np.float32
            max_abs = float(np.abs(out - ref).max())
            assert max_abs < MAX_ABS[role], f"{name} {role}: max abs error {max_abs:.3g}"
            assert relative_error(out, ref) < 1e-3, (
                f"{name} {role}: relative error {relative_error(out, ref):.3g}"
            )
            if role == "rec":  # same CTC path: the greedy argmax per time step agrees
                assert (out.argmax(-1) == ref.argmax(-1)).mean() > 0.999


def test_default_set_matches_onnxruntime() -> None:
    _agreement(DEFAULT_SET)


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_SETS)
def test_every_model_set_matches_onnxruntime(name: str) -> None:
    _agreement(name)


def test_torch_engine_plugs_into_the_backend_table() -> None:
    models = _models(DEFAULT_SET)
    engine = create_engine(models.cls or models.rec, _engine_cfg(backend="torch"), "cls")
    assert isinstance(engine, TorchEngine) and isinstance(engine, Engine)
    assert engine.provider == "torch-cpu/fp32" and engine.input_name == "x"
    assert engine.info["device"] == "cpu" and engine.info["fp16"] is None
    assert engine.info["channels_last"] is False and engine.info["cuda_graphs"] is False  # CUDA-only options


def test_calibration_is_deterministic_and_looks_like_text() -> None:
    models = _models(DEFAULT_SET)
    a, b = calibration_batches("det", models.det_norm), calibration_batches("det", models.det_norm)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert a[0].shape == (2, 3, 640, 640)
    assert calibration_batches("rec")[0].shape == (6, 3, 48, 320)
    assert calibration_batches("cls")[0].shape == (6, 3, 48, 192)
    prob = create_engine(models.det, _engine_cfg(backend="torch"), "det").run(a[0])
    text_share = float((prob > 0.3).mean())
    assert 0.01 < text_share < 0.5, f"the detector sees text on {text_share:.1%} of the calibration pixels"
    with pytest.raises(ValueError, match="unknown model role"):
        calibration_batches("layout")


def test_det_norm_comes_from_the_registry_set() -> None:
    assert det_norm_for(_models("v4").det) == "half"
    assert det_norm_for(_models(DEFAULT_SET).det) == "imagenet"
    assert det_norm_for(Path("/elsewhere/custom/det.onnx")) == "imagenet"


# ---- provider selection ----------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match=r"provider = 'cuda'.*sees 0 CUDA device.*allow_fallback"):
        select_device(_engine_cfg(backend="torch", provider="cuda"), "det")
    models = _models(DEFAULT_SET)
    with pytest.raises(EngineError, match="sees 0 CUDA device"):
        create_engine(models.det, _engine_cfg(backend="torch", provider="cuda"), "det")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")
def test_cuda_fallback_to_cpu_only_when_allowed() -> None:
    models = _models(DEFAULT_SET)
    cfg = _engine_cfg(backend="torch", provider="cuda", allow_fallback=True, cuda_graphs=True)
    with pytest.warns(RuntimeWarning, match="allow_fallback is set, running on CPU"):
        engine = create_engine(models.rec, cfg, "rec")
    assert isinstance(engine, TorchEngine)
    assert engine.provider == "torch-cpu/fp32" and engine.info["cuda_graphs"] is False
    assert engine.run(calibration_batches("rec")[0]).shape[0] == 6


def test_tensorrt_and_unknown_providers_are_refused_by_the_torch_backend() -> None:
    with pytest.raises(EngineError, match=r"needs engine\.backend = 'onnxruntime'"):
        select_device(_engine_cfg(provider="tensorrt"), "det")
    with pytest.raises(EngineError, match=r"unknown engine\.provider 'rocm'"):
        select_device(_engine_cfg(provider="rocm"), "det")


def test_missing_model_file_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="det model not found"):
        create_engine(tmp_path / "nope.onnx", _engine_cfg(backend="torch"), "det")


# ---- fp16 validation -------------------------------------------------------------------------------------


def test_fp16_falls_back_to_fp32_for_the_overflowing_v4_detector() -> None:
    models = _models("v4")
    with pytest.warns(RuntimeWarning, match=r"det .*fp16 rejected .*running in fp32"):
        engine = create_engine(models.det, _engine_cfg(backend="torch", fp16=True), "det")
    assert isinstance(engine, TorchEngine)
    decision = engine.info["fp16"]
    assert decision["precision"] == "fp32" and decision["rel_error"] > 0.5
    assert engine.provider == "torch-cpu/fp32" and engine.dtype == torch.float32
    # the fallback engine really is fp32: it agrees with ONNX Runtime
    x = calibration_batches("det", models.det_norm)[0][:1]
    ref = create_engine(models.det, _engine_cfg(), "det").run(x)
    assert relative_error(engine.run(x), ref) < 1e-3


def test_fp16_is_kept_where_it_is_accurate() -> None:
    models = _models("v6-tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no rejection warning
        engine = create_engine(models.det, _engine_cfg(backend="torch", fp16=True), "det")
    assert isinstance(engine, TorchEngine)
    assert engine.provider == "torch-cpu/fp16" and engine.dtype == torch.float16
    decision = engine.info["fp16"]
    assert decision["precision"] == "fp16" and 0 < decision["rel_error"] < 0.05
    x = calibration_batches("det", models.det_norm)[0][:1]
    out = engine.run(x)
    assert out.dtype == np.float32  # fp32 at the boundary
    ref = create_engine(models.det, _engine_cfg(), "det").run(x)
    assert 0 < relative_error(out, ref) < 0.05  # really computed in half precision, and close


def test_validate_precision_rejects_non_finite_and_tight_tolerances() -> None:
    models = _models(DEFAULT_SET)
    fp32 = create_engine(models.cls or models.rec, _engine_cfg(backend="torch"), "cls")
    calib = calibration_batches("cls")

    def overflowing(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (fp32.run(x) * np.float32(1e6)).astype(np.float16)  # past fp16's 65504 → inf

    d = validate_precision(fp32.run, overflowing, calib, 0.05)
    assert d.precision == "fp32" and d.rel_error == float("inf") and "non-finite" in d.reason

    def rounded(x: np.ndarray) -> np.ndarray:
        return fp32.run(x).astype(np.float16)

    assert validate_precision(fp32.run, rounded, calib, 0.05).accepted
    tight = validate_precision(fp32.run, rounded, calib, 1e-9)
    assert not tight.accepted and "relative error" in tight.reason
    with pytest.raises(ValueError, match="at least one calibration batch"):
        validate_precision(fp32.run, rounded, [], 0.05)
    with pytest.raises(ValueError, match="output shape"):
        validate_precision(fp32.run, lambda x: fp32.run(x)[:1], calib, 0.05)


def test_eager_engine_is_safe_to_call_from_several_threads() -> None:
    """A GPU worker runs several partition threads through one engine so host work overlaps model calls."""
    from concurrent.futures import ThreadPoolExecutor

    models = _models(DEFAULT_SET)
    engine = create_engine(models.rec, _engine_cfg(backend="torch"), "rec")
    batch = calibration_batches("rec")[0]
    inputs = [batch[i : i + 2] for i in range(0, 6, 2)] * 2
    expected = [engine.run(x) for x in inputs]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(engine.run, inputs))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
