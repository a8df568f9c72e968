"""Inference engines: one small protocol every stage calls, with backends chosen by name.

Stages never touch ONNX Runtime directly: they hold an `Engine` and call `run(x)`. The backend table maps
`engine.backend` to a factory (imported lazily, so the torch backend costs nothing unless asked for); a new
backend is one module exposing `create(model_path, cfg, role, options) -> Engine` plus a line in `BACKENDS`.
`auto` (the default) picks OpenVINO in bf16 on a CPU that has bf16 in hardware and ONNX Runtime everywhere
else (`resolve_backend`).

The ONNX Runtime backend builds the provider list from the config: TensorRT (engine + timing cache on disk,
optimisation profile matched to our padded input buckets, optional fp16), CUDA (HEURISTIC conv search by
default — EXHAUSTIVE re-tunes every new shape), CPU (explicit intra-op threads). The
provider actually used is read back from the session, so a silent CPU fallback can never masquerade as GPU.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from podocr.config import EngineConfig

log = logging.getLogger(__name__)

# backend name → "module:factory"; the factory signature is `EngineFactory` below.
BACKENDS: dict[str, str] = {
    "onnxruntime": "podocr.ocr.runtime.engine:create_ort_engine",
    "torch": "podocr.ocr.runtime.engine_torch:create",
    "openvino": "podocr.ocr.runtime.engine_openvino:create",
}
AUTO_BACKEND = "auto"

ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class EngineError(RuntimeError):
    """An engine cannot be built as configured (unknown backend, provider not available, bad model)."""


@runtime_checkable
class Engine(Protocol):
    """A loaded model: float32 NCHW batch in, first output out."""

    provider: str  # what actually runs it, e.g. "CPUExecutionProvider"
    input_name: str

    def run(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ShapeProfile:
    """Input shapes a model will see (NCHW): TensorRT builds one optimisation profile spanning min…max."""

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]
    input_name: str = "x"  # every PaddleOCR export names its image input "x"


@dataclass(frozen=True)
class EngineOptions:
    """Per-call options the caller knows better than the config: threads for this process, expected shapes."""

    intra_op_threads: int | None = None  # explicit threads for this process; None → engine.intra_op_threads
    workers_per_host: int = 1  # how many processes share this host's cores (for intra_op_threads = 0)
    profile: ShapeProfile | None = None
    cache_dir: str = ""  # TensorRT engine/timing cache folder; "" → engine.trt_cache_dir


EngineFactory = Callable[[Path, EngineConfig, str, EngineOptions], Engine]


def create_engine(
    model_path: str | os.PathLike[str],
    engine_cfg: EngineConfig,
    role: str,
    options: EngineOptions | None = None,
) -> Engine:
    """Build the engine for one model (`role` = det/cls/rec, used in messages and cache names)."""
    factory = backend_factory(resolve_backend(engine_cfg))
    return factory(Path(model_path), engine_cfg, role, options or EngineOptions())


def resolve_backend(engine_cfg: EngineConfig) -> str:
    """`engine.backend`, with `auto` resolved: OpenVINO on a CPU provider when it is installed, the CPU runs
    bf16 natively and `engine.bf16` allows it (there it is the faster runtime); ONNX Runtime otherwise."""
    name = engine_cfg.backend.strip().lower()
    if name != AUTO_BACKEND:
        return name
    if engine_cfg.provider.strip().lower() != "cpu" or engine_cfg.bf16.strip().lower() == "off":
        return "onnxruntime"
    from podocr.ocr.runtime.engine_openvino import native_bf16  # False where openvino does not import

    return "openvino" if native_bf16() else "onnxruntime"


def backend_factory(name: str) -> EngineFactory:
    target = BACKENDS.get(name)
    if target is None:
        raise EngineError(f"unknown engine.backend {name!r}; known: {AUTO_BACKEND}, {', '.join(BACKENDS)}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineError(
            f"engine.backend {name!r} needs {module_name} which failed to import ({exc}); "
            "install the matching extra (e.g. `pip install podocr[torch]`)"
        ) from exc
    factory: EngineFactory = getattr(module, attr)
    return factory


def resolve_threads(engine_cfg: EngineConfig, options: EngineOptions) -> int:
    """Explicit per-process count wins, then the config, then cores split evenly between workers."""
    if options.intra_op_threads:
        return max(1, options.intra_op_threads)
    if engine_cfg.intra_op_threads > 0:
        return engine_cfg.intra_op_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, options.workers_per_host))


# ---- ONNX Runtime backend -------------------------------------------------------------------------------


class OrtEngine:
    """An ONNX Runtime session created once and reused for every batch."""

    def __init__(self, session: Any, role: str) -> None:
        self.session = session
        self.role = role
        self.input_name: str = session.get_inputs()[0].name
        self.output_name: str = session.get_outputs()[0].name
        self.provider: str = session.get_providers()[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(
            [self.output_name], {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}
        )
        return np.asarray(out[0])

    def __repr__(self) -> str:
        return f"OrtEngine({self.role}, {self.provider})"


def ort_providers(
    engine_cfg: EngineConfig,
    role: str,
    options: EngineOptions,
    available: list[str],
    model_path: Path = Path("model.onnx"),
) -> list[str | tuple[str, dict[str, Any]]]:
    """The provider list for `engine.provider`, or EngineError / a CPU-only list with a warning when absent."""
    want = engine_cfg.provider.lower()
    if want not in ORT_PROVIDERS:
        raise EngineError(
            f"unknown engine.provider {engine_cfg.provider!r}; known: {', '.join(ORT_PROVIDERS)}"
        )
    if ORT_PROVIDERS[want] not in available:
        msg = (
            f"engine.provider = {want!r} for {role}, but this onnxruntime offers only {available}; "
            "install onnxruntime-gpu with matching CUDA/cuDNN (and TensorRT for 'tensorrt')"
        )
        if not engine_cfg.allow_fallback:
            raise EngineError(msg + ", or set engine.allow_fallback = true to run on CPU")
        warnings.warn(msg + "; engine.allow_fallback is set, running on CPU", RuntimeWarning, stacklevel=3)
        want = "cpu"
    providers: list[str | tuple[str, dict[str, Any]]] = []
    if want == "tensorrt":
        providers.append(("TensorrtExecutionProvider", _trt_options(engine_cfg, role, options, model_path)))
    if want in ("tensorrt", "cuda") and "CUDAExecutionProvider" in available:
        providers.append(
            (
                "CUDAExecutionProvider",
                {
                    "device_id": engine_cfg.device_id,
                    "cudnn_conv_algo_search": engine_cfg.cudnn_conv_algo_search.upper(),
                    "arena_extend_strategy": "kSameAsRequested",  # grows to what bucketed shapes need, no 2× jumps
                },
            )
        )
    providers.append("CPUExecutionProvider")
    return providers


def _trt_options(
    engine_cfg: EngineConfig, role: str, options: EngineOptions, model_path: Path
) -> dict[str, Any]:
    cache = Path(options.cache_dir or engine_cfg.trt_cache_dir or _default_trt_cache()).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    opts: dict[str, Any] = {
        "device_id": engine_cfg.device_id,
        "trt_fp16_enable": bool(engine_cfg.fp16),
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
        "trt_max_workspace_size": int(engine_cfg.trt_workspace_gb * (1 << 30)),
        "trt_engine_cache_prefix": f"podocr_{role}_{model_path.parent.name}",  # per model: probe ≠ det
    }
    if options.profile is not None:
        # One explicit profile spanning our padded buckets: no rebuild when a new (in-range) shape arrives.
        def fmt(shape: tuple[int, ...]) -> str:
            return "x".join(str(d) for d in shape)

        name = options.profile.input_name
        opts["trt_profile_min_shapes"] = f"{name}:{fmt(options.profile.min)}"
        opts["trt_profile_opt_shapes"] = f"{name}:{fmt(options.profile.opt)}"
        opts["trt_profile_max_shapes"] = f"{name}:{fmt(options.profile.max)}"
    return opts


def _default_trt_cache() -> str:
    from podocr.config import ModelsConfig
    from podocr.ocr.registry import store_dir

    return str(store_dir(ModelsConfig()) / "trt-cache")


def create_ort_engine(
    model_path: Path, engine_cfg: EngineConfig, role: str, options: EngineOptions
) -> Engine:
    import onnxruntime as ort

    if not model_path.is_file():
        raise EngineError(f"{role} model not found: {model_path}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = resolve_threads(engine_cfg, options)
    so.inter_op_num_threads = max(1, engine_cfg.inter_op_threads)
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_cpu_mem_arena = engine_cfg.cpu_mem_arena
    so.log_severity_level = 3
    providers = ort_providers(engine_cfg, role, options, ort.get_available_providers(), model_path)
    try:
        session = ort.InferenceSession(str(model_path), sess_options=so, providers=providers)
    except Exception as exc:  # ORT raises its own exception types; name the model and the providers asked for
        raise EngineError(f"could not load {role} model {model_path} with {providers}: {exc}") from exc
    engine: Engine = OrtEngine(session, role)
    wanted = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
    if engine.provider != wanted:
        msg = f"{role}: asked for {wanted} but the session runs on {engine.provider}"
        if not engine_cfg.allow_fallback:
            raise EngineError(msg + "; set engine.allow_fallback = true to accept this")
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    if engine_cfg.fp16 and engine.provider == "TensorrtExecutionProvider" and options.profile is not None:
        engine = _validated_fp16(engine, model_path, engine_cfg, role, options, so, providers)
    return engine


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    """‖out − ref‖ / ‖ref‖: the fp16 acceptance measure (docs/gpu.md)."""
    denom = float(np.linalg.norm(ref)) or 1.0
    return float(np.linalg.norm(out.astype(np.float64) - ref.astype(np.float64)) / denom)


def _validated_fp16(
    engine: Engine,
    model_path: Path,
    engine_cfg: EngineConfig,
    role: str,
    options: EngineOptions,
    so: Any,
    providers: list[str | tuple[str, dict[str, Any]]],
) -> Engine:
    """fp16 can wreck some models (v4 det overflows): compare with fp32 on CPU, rebuild in fp32 if too far."""
    import onnxruntime as ort

    assert options.profile is not None
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=options.profile.opt).astype(np.float32)
    ref_sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    ref = OrtEngine(ref_sess, role).run(x)
    err = relative_error(engine.run(x), ref)
    if err <= engine_cfg.fp16_max_rel_error:
        log.info("%s: fp16 accepted (relative error %.3g)", role, err)
        return engine
    warnings.warn(
        f"{role}: fp16 relative error {err:.3g} > engine.fp16_max_rel_error "
        f"{engine_cfg.fp16_max_rel_error}; using fp32 for this model",
        RuntimeWarning,
        stacklevel=3,
    )
    first = providers[0]
    assert isinstance(first, tuple)
    fp32 = [(first[0], {**first[1], "trt_fp16_enable": False}), *providers[1:]]
    return OrtEngine(ort.InferenceSession(str(model_path), sess_options=so, providers=fp32), role)
