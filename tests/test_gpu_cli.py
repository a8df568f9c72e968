"""GPU entry points on a machine without a GPU: clear errors, never a silent CPU run; the TensorRT build plan."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
from click.testing import CliRunner

from podocr.cli import main
from podocr.config import PodocrConfig
from podocr.ocr.build import shape_profiles
from podocr.ocr.registry import ModelError, resolve
from podocr.ocr.runtime.engine import EngineError
from podocr.ocr.runtime.trt import TRT_PROVIDER, plan_trt_builds, require_tensorrt

DATE = "2026-11-26"
no_trt = pytest.mark.skipif(
    TRT_PROVIDER in ort.get_available_providers(), reason="checks the no-TensorRT path"
)


def _cfg() -> PodocrConfig:
    cfg = PodocrConfig()
    try:
        resolve(cfg.models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")
    return cfg


@no_trt
def test_build_trt_without_tensorrt_is_a_clear_error() -> None:
    _cfg()
    result = CliRunner().invoke(main, ["models", "build-trt", "--set", "v6-tiny"])
    assert result.exit_code == 1
    assert f"needs ONNX Runtime's {TRT_PROVIDER}" in result.output
    assert "GPU host type" in result.output
    with pytest.raises(EngineError, match="this onnxruntime offers only"):
        require_tensorrt(["CUDAExecutionProvider", "CPUExecutionProvider"])
    require_tensorrt([TRT_PROVIDER, "CUDAExecutionProvider"])  # no error when it is there


def test_trt_plan_uses_the_pipeline_profiles_and_dedupes_shared_models() -> None:
    cfg = _cfg()
    jobs = plan_trt_builds(cfg, ["v6-tiny", "v6-small"])
    assert [(j.set_name, j.role) for j in jobs] == [
        ("v6-tiny", "det"),
        ("v6-tiny", "rec"),
        ("v6-tiny", "cls"),  # v6-small shares the v5 cls model: built once
        ("v6-small", "det"),
        ("v6-small", "rec"),
    ]
    profiles = shape_profiles(cfg, 48)
    for job in jobs:
        assert job.profile == profiles[job.role] and job.model.is_file()
    assert [j.role for j in plan_trt_builds(cfg.replace(cls__enabled=False))] == ["det", "rec"]
    with pytest.raises(ModelError, match="unknown model set 'v9'"):
        plan_trt_builds(cfg, ["v9"])


def test_batch_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("podocr.synth")
    from podocr.synth import generate

    _cfg()
    generate(str(tmp_path / "day"), 1, 5, date=DATE)
    args = [
        "batch",
        "--cuda",
        "--date",
        DATE,
        "--input",
        str(tmp_path / "day"),
        "--output",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(main, [*args, "--no-progress"])
    assert result.exit_code == 4, result.output  # infrastructure: nothing is wrong with the input
    assert "--cuda" in result.output
    assert "no NVIDIA GPU is visible" in result.output or "needs dask-cuda" in result.output
    assert not list((tmp_path / "out").glob("ocr_results/**/*.parquet")), (
        "a refused GPU run writes no results"
    )
