"""OpenVINO engine backend (`engine.backend = "openvino"`, chosen by `auto` on CPUs with native bf16).

Why a third backend: on x86 CPUs with bf16 in hardware (AMX or AVX-512 BF16), OpenVINO runs the same verified
ONNX files in bf16, which roughly halves the detectors' and the recognisers' time, where ONNX Runtime's CPU
provider has only fp32 (and INT8, which does not pay on these depthwise-heavy models: docs/models.md). bf16
keeps fp32's exponent range, so nothing overflows as fp16 can; what it costs is mantissa precision, which
the pipeline's reads measure on whole photos (docs/models.md). Without native bf16 OpenVINO's fp32 is no faster
than ONNX Runtime's, so `auto` keeps ONNX Runtime there.

Threads: every calling thread (the job's batch threads) keeps its own infer request. The model is compiled
with one stream, on which calls take turns: two threads meeting on one model wait for each other. A stream
per thread made the pipeline no faster, and would prepare every input shape once per stream
(docs/performance.md).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from podocr.config import EngineConfig
from podocr.ocr.runtime.engine import EngineError, EngineOptions, resolve_threads

BF16_MODES = ("auto", "on", "off")


@functools.cache
def _core() -> Any:
    import openvino

    core = openvino.Core()
    # OpenVINO's bindings set up their NumPy bridge (pybind11's) on first use, in a static initialiser that
    # deadlocks the process when two threads reach it at once: one waits on the initialiser's guard holding the
    # GIL, the other waits inside it for the GIL. The job's batch threads all start with a model call, so the
    # bridge is set up here, on the thread that loads the models, before any of them exists.
    _ = openvino.Tensor(np.zeros(1, np.float32)).data
    return core


@functools.cache
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
    """A model compiled for the CPU; each calling thread infers through its own request.

    OpenVINO prepares, and keeps memory for, every input shape a compiled model has run, and the stages' inputs
    take many shapes (label crops, line widths, batch sizes): left alone a worker grows by gigabytes over a day.
    So the shapes are kept few: batches run one item per call (on a CPU a batch buys little but call overhead),
    and detector inputs (`spatial_step` > 1: outputs the input's size, as DB maps are) are padded to a coarser
    grid than ONNX Runtime's buckets. As a hard bound, after `max_shapes` distinct shapes the model is compiled
    afresh, which frees what the old one held (shapes seen again are then prepared again).
    """

    def __init__(
        self, compile_fn: Callable[[], Any], role: str, precision: str, max_shapes: int, spatial_step: int = 1
    ) -> None:
        self._compile = compile_fn
        # detector maps: inputs padded to this grid, outputs cut back to the input's size
        self.spatial_step = max(1, spatial_step)
        self.role = role
        self.provider = f"openvino-cpu/{precision}"
        self.max_shapes = max(1, max_shapes)
        self._lock = threading.Lock()
        self._compiled = compile_fn()
        self._generation = 0
        self._shapes: set[tuple[int, ...]] = set()
        self._local = threading.local()
        self.input_name: str = self._compiled.inputs[0].get_any_name()
        self.recompiles = 0

    def _current(self, shape: tuple[int, ...]) -> tuple[Any, int]:
        with self._lock:
            if shape not in self._shapes:
                if len(self._shapes) >= self.max_shapes:
                    # threads still inferring keep the old one until they finish
                    self._compiled = self._compile()
                    self._generation += 1
                    self._shapes.clear()
                    self.recompiles += 1
                self._shapes.add(shape)
            return self._compiled, self._generation

    def run(self, x: np.ndarray) -> np.ndarray:
        # one item per call: the batch size would multiply the shapes prepared. Each item's output is copied
        # once, out of the request's buffer (which the request reuses on its next call) into the batch's.
        first = self._infer(x[:1])
        out = np.empty((x.shape[0], *first.shape[1:]), np.float32)
        out[:1] = first
        for i in range(1, x.shape[0]):
            out[i : i + 1] = self._infer(x[i : i + 1])
        return out

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """One item's output: a view of this thread's request buffer, valid until its next call."""
        height, width = x.shape[-2:]
        step = self.spatial_step
        padded = (-(-height // step) * step, -(-width // step) * step)
        if padded != (height, width):  # zeros: the detector's own padding value (normalised zero)
            x = np.pad(x, ((0, 0), (0, 0), (0, padded[0] - height), (0, padded[1] - width)))
        compiled, generation = self._current(tuple(x.shape))
        local = self._local
        if getattr(local, "generation", None) != generation:
            local.request, local.generation = compiled.create_infer_request(), generation
        # shared both ways: the request reads the caller's array and its result is the request's own buffer
        # (a synchronous call on this thread's request, copied out by `run` before the next)
        result = local.request.infer(
            {0: np.ascontiguousarray(x, dtype=np.float32)}, share_inputs=True, share_outputs=True
        )
        return result[0][..., :height, :width] if padded != (height, width) else result[0]

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
    config = {
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,  # one stream: shapes prepared once (see the module's docstring)
        "INFERENCE_NUM_THREADS": resolve_threads(cfg, options),
        "ENABLE_CPU_PINNING": False,  # a Dask worker shares its cores with the batch threads' host work
    }
    try:
        model = _core().read_model(str(model_path))
        compile_fn = functools.partial(_core().compile_model, model, "CPU", config)
        step = cfg.openvino_det_step if role == "det" else 1
        return OpenVinoEngine(compile_fn, role, precision, cfg.openvino_max_shapes, step)
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own; name the model
        raise EngineError(
            f"could not compile {role} model {model_path} with OpenVINO ({config}): {exc}"
        ) from exc
