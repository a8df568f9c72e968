"""OpenVINO engine backend (`engine.backend = "openvino"`, chosen by `auto` on CPUs with native bf16).

Why a third backend: on x86 CPUs with bf16 in hardware (AMX or AVX-512 BF16), OpenVINO runs the same verified
ONNX files in bf16, which roughly halves the detectors' and the recognisers' time, where ONNX Runtime's CPU
provider has only fp32 (and INT8, which does not pay on these depthwise-heavy models: docs/models.md). bf16
keeps fp32's exponent range, so nothing overflows as fp16 can; what it costs is mantissa precision, which
`podocr eval` measures on whole photos (docs/performance.md). Without native bf16 OpenVINO's fp32 is no faster
than ONNX Runtime's, so `auto` keeps ONNX Runtime there.

Threads: a compiled model gets one stream per batch thread (`engine.batch_threads`), each with the engine's
intra-op threads, and every calling thread keeps its own infer request: two batch threads then run their
model calls at once, where one stream would run them one after the other.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from podocr.config import EngineConfig
from podocr.ocr.runtime.engine import EngineError, EngineOptions, resolve_threads

BF16_MODES = ("auto", "on", "off")


@lru_cache(maxsize=1)
def _core() -> Any:
    import openvino

    return openvino.Core()


def native_bf16() -> bool:
    """Whether this CPU runs bf16 in hardware (OpenVINO reports the capability for AMX and AVX-512 BF16)."""
    try:
        caps = _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # openvino missing or no CPU plugin: no bf16 through it
        return False
    return "BF16" in {str(c).upper() for c in caps}


def use_bf16(cfg: EngineConfig) -> bool:
    """`engine.bf16` resolved on this CPU: `on` without hardware bf16 is an error, not a silent emulation."""
    mode = cfg.bf16.strip().lower()
    if mode not in BF16_MODES:
        raise EngineError(f"engine.bf16 = {cfg.bf16!r}: use {', '.join(BF16_MODES)}")
    if mode == "off":
        return False
    if mode == "on" and not native_bf16():
        raise EngineError("engine.bf16 = 'on', but this CPU has no native bf16 (AMX or AVX-512 BF16)")
    return native_bf16()


class OpenVinoEngine:
    """A model compiled once for the CPU; each calling thread infers through its own request."""

    def __init__(self, compiled: Any, role: str, precision: str) -> None:
        self.compiled = compiled
        self.role = role
        self.provider = f"openvino-cpu/{precision}"
        self.input_name: str = compiled.inputs[0].get_any_name()
        self._local = threading.local()

    def run(self, x: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        # the request reuses its output buffer on the next call: hand the caller its own copy
        return np.array(result[0], dtype=np.float32)

    def __repr__(self) -> str:
        return f"OpenVinoEngine({self.role}, {self.provider})"


def create(model_path: Path, cfg: EngineConfig, role: str, options: EngineOptions) -> OpenVinoEngine:
    """The `BACKENDS["openvino"]` factory: compile one ONNX file for the CPU (bf16 as `engine.bf16` says)."""
    if cfg.provider.strip().lower() != "cpu":
        raise EngineError(
            f"engine.backend = 'openvino' runs on the CPU only (engine.provider = {cfg.provider!r}); "
            "use 'onnxruntime' or 'torch' for a GPU"
        )
    if not model_path.is_file():
        raise EngineError(f"{role} model not found: {model_path}")
    precision = "bf16" if use_bf16(cfg) else "f32"
    streams = max(1, cfg.batch_threads)
    config = {
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": streams,
        "INFERENCE_NUM_THREADS": streams * resolve_threads(cfg, options),
        "ENABLE_CPU_PINNING": False,  # a Dask worker shares its cores with the batch threads' host work
    }
    try:
        compiled = _core().compile_model(str(model_path), "CPU", config)
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own; name the model
        raise EngineError(
            f"could not compile {role} model {model_path} with OpenVINO ({config}): {exc}"
        ) from exc
    return OpenVinoEngine(compiled, role, precision)
