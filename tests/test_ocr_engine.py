"""Engine layer: provider selection and its errors, backend table and `auto`, threads, model checksum failures."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from podocr.config import EngineConfig, ModelsConfig, PodocrConfig
from podocr.ocr.pipeline import OcrPipeline
from podocr.ocr.registry import ModelError, Registry, file_path, resolve, store_dir
from podocr.ocr.runtime.engine import (
    BACKENDS,
    Engine,
    EngineError,
    EngineOptions,
    ShapeProfile,
    create_engine,
    ort_providers,
    relative_error,
    resolve_backend,
    resolve_threads,
)
from podocr.ocr.runtime.engine_openvino import native_bf16
from podocr.ocr.runtime.fp16 import calibration_batches

BF16 = native_bf16()
# every CPU engine variant: (backend, engine.bf16, the provider it reports)
CPU_VARIANTS = [
    ("onnxruntime", "auto", "CPUExecutionProvider"),
    ("openvino", "off", "openvino-cpu/f32"),
    pytest.param(
        "openvino",
        "on",
        "openvino-cpu/bf16",
        marks=pytest.mark.skipif(not BF16, reason="this CPU has no native bf16"),
    ),
]

SETS = ["v4", "v5", "v6-tiny", "v6-small"]
CPU_ONLY = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def tiny_det() -> str:
    return str(resolve(ModelsConfig(set="v6-tiny")).det)


@pytest.mark.parametrize(("backend", "bf16", "provider"), CPU_VARIANTS)
@pytest.mark.parametrize("set_name", SETS)
def test_cpu_engines_run_every_model_and_report_the_provider_used(set_name, backend, bf16, provider):
    models = resolve(ModelsConfig(set=set_name))
    cfg = EngineConfig(backend=backend, bf16=bf16)
    det = create_engine(models.det, cfg, "det", EngineOptions(intra_op_threads=1))
    rec = create_engine(models.rec, cfg, "rec", EngineOptions(intra_op_threads=1))
    assert isinstance(det, Engine) and det.provider == provider and det.input_name == "x"
    prob = det.run(np.zeros((2, 3, 64, 96), np.float32))
    assert prob.shape == (2, 1, 64, 96)
    out = rec.run(np.zeros((3, 3, models.rec_height, 160), np.float32))
    assert out.shape[0] == 3 and out.shape[1] == 160 // 8
    np.testing.assert_allclose(out.sum(axis=2), 1.0, atol=1e-3)  # softmax over the dictionary


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_missing_gpu_provider_is_a_clear_error_unless_fallback_is_allowed(provider, tiny_det):
    if provider == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this host has CUDA")
    with pytest.raises(EngineError, match=rf"engine.provider = '{provider}'.*allow_fallback"):
        create_engine(tiny_det, EngineConfig(provider=provider), "det")
    with pytest.warns(RuntimeWarning, match="running on CPU"):
        engine = create_engine(tiny_det, EngineConfig(provider=provider, allow_fallback=True), "det")
    assert engine.provider == "CPUExecutionProvider"


def test_provider_lists_for_gpu_hosts_carry_our_settings():
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    cfg = EngineConfig(provider="cuda")
    cuda, cpu = ort_providers(cfg, "det", EngineOptions(), gpu)
    assert isinstance(cuda, tuple) and cuda[0] == "CUDAExecutionProvider" and cpu == "CPUExecutionProvider"
    assert cuda[1]["cudnn_conv_algo_search"] == "HEURISTIC"  # not ORT's EXHAUSTIVE default
    profile = ShapeProfile((1, 3, 48, 80), (64, 3, 48, 320), (64, 3, 48, 1600))
    trt_cfg = EngineConfig(provider="tensorrt", fp16=True)
    providers = ort_providers(
        trt_cfg, "rec", EngineOptions(profile=profile, cache_dir="/tmp/podocr-trt"), gpu
    )
    trt = providers[0]
    assert isinstance(trt, tuple) and trt[0] == "TensorrtExecutionProvider"
    opts = trt[1]
    assert opts["trt_engine_cache_enable"] and opts["trt_timing_cache_enable"] and opts["trt_fp16_enable"]
    assert opts["trt_engine_cache_path"] == "/tmp/podocr-trt"
    assert opts["trt_profile_min_shapes"] == "x:1x3x48x80"
    assert opts["trt_profile_max_shapes"] == "x:64x3x48x1600"
    assert [p[0] if isinstance(p, tuple) else p for p in providers[1:]] == gpu[1:]
    with pytest.raises(EngineError, match=r"unknown engine\.provider"):
        ort_providers(EngineConfig(provider="tpu"), "det", EngineOptions(), gpu)


def test_backend_table_names_backends_and_rejects_unknown(tiny_det):
    assert set(BACKENDS) >= {"onnxruntime", "torch", "openvino"}
    with pytest.raises(EngineError, match=r"unknown engine\.backend 'tflite'"):
        create_engine(tiny_det, EngineConfig(backend="tflite"), "det")


def test_threads_explicit_then_config_then_cores_per_worker():
    assert resolve_threads(EngineConfig(intra_op_threads=3), EngineOptions(intra_op_threads=1)) == 1
    assert resolve_threads(EngineConfig(intra_op_threads=3), EngineOptions()) == 3
    cores = resolve_threads(EngineConfig(), EngineOptions())
    assert cores >= 1
    assert resolve_threads(EngineConfig(), EngineOptions(workers_per_host=64)) == 1


def test_relative_error():
    ref = np.ones(10, np.float32)
    assert relative_error(ref, ref) == 0
    assert relative_error(ref * 1.1, ref) == pytest.approx(0.1)


def test_missing_model_file_is_an_engine_error(tmp_path):
    with pytest.raises(EngineError, match="model not found"):
        create_engine(tmp_path / "nope.onnx", EngineConfig(), "rec")


def test_pipeline_refuses_a_corrupt_model_naming_the_file(tmp_path):
    reg = Registry.load()
    spec = reg.spec("v6-tiny")
    src = store_dir(ModelsConfig())
    for key in spec.file_keys():
        dst = file_path(tmp_path, reg.files[key])
        dst.parent.mkdir(parents=True)
        shutil.copyfile(file_path(src, reg.files[key]), dst)
    bad = file_path(tmp_path, reg.files[spec.det])
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    cfg = PodocrConfig().replace(models__set="v6-tiny", models__store=str(tmp_path))
    with pytest.raises(ModelError, match=r"v6-tiny-det.*checksum mismatch"):
        OcrPipeline.from_config(cfg)


@pytest.mark.parametrize("bf16", ["off", pytest.param("on", marks=CPU_VARIANTS[2].marks)])
def test_openvino_reads_like_onnx_runtime(bf16):
    """Same file, same label-like inputs (a parcel photo, text-line crops), two shapes per model: OpenVINO's
    detector maps threshold to the same text pixels as ONNX Runtime's and its recogniser picks the same
    character at each confident step; in fp32 the outputs are equal to float precision."""
    models = resolve(ModelsConfig(set="v6-small"))
    det_x = calibration_batches("det", models.det_norm)[0]
    rec_x = calibration_batches("rec", rec_height=models.rec_height)[0]
    for role, path, inputs in [
        ("det", models.det, [det_x, det_x[:1, :, :320, :448]]),
        ("rec", models.rec, [rec_x, rec_x[:2, :, :, :160]]),
    ]:
        ort_engine = create_engine(path, EngineConfig(backend="onnxruntime"), role, EngineOptions(1))
        ov_cfg = EngineConfig(backend="openvino", bf16=bf16, openvino_det_step=1)  # no padding: same inputs
        ov_engine = create_engine(path, ov_cfg, role, EngineOptions(1))
        for x in inputs:
            x = np.ascontiguousarray(x)
            ref, out = ort_engine.run(x), ov_engine.run(x)
            assert out.shape == ref.shape and out.dtype == np.float32
            if bf16 == "off":
                assert relative_error(out, ref) < 1e-3, (role, x.shape)
            elif role == "det":
                assert np.mean((out > 0.3) == (ref > 0.3)) > 0.995, x.shape
            else:
                sure = ref.max(axis=-1) > 0.5
                assert np.mean(out.argmax(-1)[sure] == ref.argmax(-1)[sure]) > 0.98, x.shape


def test_openvino_engine_serves_threads_at_once_each_with_its_own_request():
    """Two batch threads call one engine concurrently: each answer is its own input's, as when called alone."""
    path = resolve(ModelsConfig(set="v6-tiny")).rec
    engine = create_engine(
        path, EngineConfig(backend="openvino", bf16="off", batch_threads=2), "rec", EngineOptions(1)
    )
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1, 1, (2, 3, 48, 80 * (k + 1))).astype(np.float32) for k in range(4)]
    alone = [engine.run(x) for x in xs]
    got: dict[int, list[np.ndarray]] = {0: [], 1: []}

    def work(t: int) -> None:
        for _ in range(3):
            got[t].extend(engine.run(x) for x in xs)

    threads = [threading.Thread(target=work, args=(t,)) for t in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in (0, 1):
        for k, out in enumerate(got[t]):
            np.testing.assert_array_equal(out, alone[k % len(xs)])


_FIRST_CALLS_AT_ONCE = """
import os, sys, threading
import numpy as np
from podocr.config import EngineConfig, ModelsConfig
from podocr.ocr.registry import resolve
from podocr.ocr.runtime.engine import EngineOptions, create_engine

engine = create_engine(resolve(ModelsConfig(set="v6-tiny")).rec, EngineConfig(backend="openvino", bf16="off"),
                       "rec", EngineOptions(1))
start = threading.Barrier(8)
x = np.zeros((1, 3, 48, 80), np.float32)

def first_call():
    start.wait()
    engine.run(x)

threads = [threading.Thread(target=first_call, daemon=True) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(30)
print("stuck" if any(t.is_alive() for t in threads) else "ok", flush=True)
os._exit(0)
"""


def test_openvino_first_calls_from_many_threads_at_once_do_not_deadlock():
    """A fresh process whose first model calls come from eight threads at once (a worker's batch threads after
    loading the models) finishes them all. OpenVINO's bindings set up their NumPy bridge on first use in a
    static initialiser that deadlocks under that race (one thread holds the GIL waiting for the initialiser,
    the other waits for the GIL inside it); then not even the print runs, so the process times out. A race:
    without the fix about one process in eight hung, hence several."""
    for _ in range(6):
        try:
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALLS_AT_ONCE], capture_output=True, text=True, timeout=90
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the first model calls from eight threads deadlocked the process")
        assert out.stdout.strip().splitlines()[-1:] == ["ok"], out.stderr[-2000:]


def test_auto_backend_is_openvino_exactly_on_a_cpu_with_native_bf16():
    assert resolve_backend(EngineConfig()) == ("openvino" if BF16 else "onnxruntime")
    assert resolve_backend(EngineConfig(bf16="off")) == "onnxruntime"  # fp32 OpenVINO is no faster than ORT
    assert resolve_backend(EngineConfig(provider="cuda")) == "onnxruntime"
    assert resolve_backend(EngineConfig(backend="torch")) == "torch"  # an explicit backend wins


def test_openvino_errors_name_the_fix(tiny_det):
    with pytest.raises(EngineError, match="CPU only"):
        create_engine(tiny_det, EngineConfig(backend="openvino", provider="cuda"), "det")
    with pytest.raises(EngineError, match=r"engine\.bf16 = 'fast'"):
        create_engine(tiny_det, EngineConfig(backend="openvino", bf16="fast"), "det")
    if not BF16:
        with pytest.raises(EngineError, match="no native bf16"):
            create_engine(tiny_det, EngineConfig(backend="openvino", bf16="on"), "det")


def test_openvino_keeps_few_shapes_and_recompiles_past_its_bound():
    """OpenVINO keeps memory per input shape: batches run item by item, detector inputs are padded to the
    engine's grid (the map comes back at the input's size), and past `openvino_max_shapes` the model is compiled
    afresh, reading as before."""
    models = resolve(ModelsConfig(set="v6-tiny"))
    cfg = EngineConfig(backend="openvino", bf16="off", openvino_det_step=128, openvino_max_shapes=2)
    det = create_engine(models.det, cfg, "det", EngineOptions(1))
    x = np.ascontiguousarray(calibration_batches("det", models.det_norm)[0][:, :, :200, :330])
    out = det.run(x)  # any size: the model itself needs multiples of 32, which the padding gives it
    assert out.shape == (2, 1, 200, 330)
    assert det._shapes == {(1, 3, 256, 384)}  # two photos, one shape: padded to 128s, one item per call
    np.testing.assert_array_equal(det.run(x[:1]), out[:1])
    first = out[:1]
    det.run(np.zeros((1, 3, 64, 64), np.float32))
    det.run(np.zeros((1, 3, 300, 64), np.float32))  # a third shape: compiled afresh
    assert det.recompiles == 1 and len(det._shapes) == 1
    np.testing.assert_array_equal(det.run(x[:1]), first)

    rec = create_engine(models.rec, cfg, "rec", EngineOptions(1))  # not a detector: no spatial padding
    lines = calibration_batches("rec", rec_height=models.rec_height)[0][:3, :, :, :240]
    assert rec.run(np.ascontiguousarray(lines)).shape[:2] == (3, 240 // 8)
    assert rec._shapes == {(1, 3, models.rec_height, 240)}


def test_openvino_outputs_are_the_callers_own_not_the_requests_buffer():
    """Inputs and outputs are shared with the infer request (no copies in the bindings); what `run` returns
    must still survive the request's next call, and a batch must equal its items run one by one."""
    models = resolve(ModelsConfig(set="v6-tiny"))
    rec = create_engine(models.rec, EngineConfig(backend="openvino", bf16="off"), "rec", EngineOptions(1))
    lines = np.ascontiguousarray(calibration_batches("rec", rec_height=models.rec_height)[0][:3, :, :, :240])
    batch = rec.run(lines)
    kept = batch.copy()
    singles = [rec.run(lines[i : i + 1]) for i in range(3)]
    rec.run(np.zeros_like(lines[:1]))
    np.testing.assert_array_equal(batch, kept)
    np.testing.assert_array_equal(np.concatenate(singles), kept)
    assert not np.array_equal(singles[0], singles[1])


@pytest.mark.parametrize(("backend", "grid"), [("onnxruntime", 64), ("openvino", 128)])
def test_label_crops_are_scaled_onto_the_detectors_grid_not_padded_to_it(backend, grid):
    """The label detector's inputs are cut in multiples of its engine's grid (OpenVINO's 128 is coarser than
    the 64-px bucket step), so the engine pads nothing: each call's pixels are all the label's."""
    from podocr.synth import render_photo

    cfg = PodocrConfig.load().replace(
        engine__backend=backend, engine__bf16="off", engine__batch_threads=1, det__bucket_step=64
    )
    pipe = OcrPipeline.from_config(cfg, 1)
    assert pipe.detector.grid == grid
    seen: list[tuple[int, ...]] = []
    run = pipe.detector.engine.run
    pipe.detector.engine.run = lambda x: seen.append(x.shape) or run(x)  # type: ignore[method-assign]
    photo, _ = render_photo(1, 0, max_side=1280)  # its label crop is 832 × 704 on the 64-px grid
    page = pipe.run([photo])[0]
    assert seen and page.lines
    assert all(h % grid == 0 and w % grid == 0 for *_, h, w in seen), seen


def test_engines_are_created_two_at_a_time_after_the_first():
    """The first engine is created on the caller's thread (a backend's lazy set-up happens there, once); the
    others two at a time, each under its own key."""
    from podocr.ocr.build import create_engines

    caller = threading.current_thread()
    both_loading = threading.Barrier(2, timeout=10)  # breaks (and the test fails) if they load one by one
    threads: dict[str, threading.Thread] = {}

    def create(role: str, path: Path) -> Any:
        threads[path.name] = threading.current_thread()
        if path.name != "a":
            both_loading.wait()
        return (role, path.name)

    wanted = {k: ("det" if k != "d" else "rec", Path(k)) for k in "abcde"}
    engines = create_engines(wanted, create, concurrent=True)
    assert engines == {k: (role, k) for k, (role, _) in wanted.items()}
    assert threads["a"] is caller and all(threads[k] is not caller for k in "bcde")
    assert create_engines(wanted, lambda role, path: path.name, concurrent=False) == {k: k for k in "abcde"}
