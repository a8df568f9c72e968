"""PyTorch engine backend (`engine.backend = "torch"`): the same verified ONNX files, run by torch on CUDA or CPU.

Why a second backend: ONNX Runtime's CUDA EP re-tunes convolutions per shape and copies every tensor through
the host, and its TensorRT EP needs long per-GPU-arch engine builds; torch runs the converted graph with cuDNN,
channels-last tensor-core convolutions, fp16 and CUDA graphs, with nothing to build ahead. Inputs and outputs
stay float32 NCHW numpy at the boundary, so the stages cannot tell the backends apart.

fp16 is validated per model at load (podocr.ocr.runtime.fp16); a model that fails keeps running in fp32, and the
decision shows in `provider` (e.g. "torch-cuda:0/fp32") and `info["fp16"]`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from podocr.config import EngineConfig
from podocr.ocr.runtime.engine import EngineError, EngineOptions, resolve_threads
from podocr.ocr.runtime.fp16 import PrecisionDecision, calibration_batches, validate_precision
from podocr.ocr.runtime.torch_convert import ConversionError, convert_onnx, input_name

log = logging.getLogger(__name__)

GRAPH_WARMUP_CALLS = 3  # eager calls on a side stream before capture, as torch.cuda.graphs requires


def select_device(cfg: EngineConfig, role: str) -> torch.device:
    """`engine.provider` → a torch device; a missing GPU is an error unless `engine.allow_fallback` is set."""
    want = cfg.provider.lower()
    if want == "cpu":
        return torch.device("cpu")
    if want == "tensorrt":
        raise EngineError(
            "engine.provider = 'tensorrt' needs engine.backend = 'onnxruntime' (ONNX Runtime's TensorRT EP); "
            "the torch backend runs provider 'cuda' or 'cpu'"
        )
    if want != "cuda":
        raise EngineError(
            f"unknown engine.provider {cfg.provider!r} for the torch backend; use 'cuda' or 'cpu'"
        )
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.device_id < count:
        return torch.device("cuda", cfg.device_id)
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    msg = (
        f"engine.provider = 'cuda' (device {cfg.device_id}) for {role}, but torch {torch.__version__} "
        f"({build}) sees {count} CUDA device(s)"
    )
    if not cfg.allow_fallback:
        raise EngineError(
            msg
            + "; run on a GPU host with a CUDA build of torch, or set engine.allow_fallback = true for CPU"
        )
    warnings.warn(msg + "; engine.allow_fallback is set, running on CPU", RuntimeWarning, stacklevel=3)
    return torch.device("cpu")


def fold_for_shape(module: nn.Module, x: torch.Tensor) -> Any:
    """The module traced at one fixed input shape: the converted graphs' host round trips (`Shape` building a
    tensor from a Python list, `Resize` and `Reshape` reading values back with `.tolist()`) become constants,
    so what is left runs on the device only and a CUDA graph can capture it. Valid for exactly this shape."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarning: "converted to a constant" is the point here
        return torch.jit.trace(module, x, check_trace=False, strict=False)


class _NoCudnnConv(nn.Module):
    """A depthwise conv run with cuDNN switched off: torch's own depthwise kernels, no per-shape cuDNN plan.

    The switch is process-wide for the duration of the call, which is safe when one inference thread owns every
    model call (runtime/infer_thread.py)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = torch.backends.cudnn.enabled
        torch.backends.cudnn.enabled = False
        try:
            out: torch.Tensor = self.conv(x)
        finally:
            torch.backends.cudnn.enabled = before
        return out


def is_depthwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels


def depthwise_off_cudnn(module: nn.Module) -> int:
    """Wrap every depthwise conv in `_NoCudnnConv` (in place); returns how many."""
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if is_depthwise(child):
                setattr(parent, name, _NoCudnnConv(child))  # type: ignore[arg-type]
                count += 1
    return count


def apply_cuda_settings(cfg: EngineConfig) -> None:
    """Process-wide CUDA settings from the config: module loading (before the first CUDA context), TF32 and
    cudnn.benchmark. Each was chosen by the device diagnosis (benchmarks/gpu_diag.py, docs/gpu.md)."""
    os.environ.setdefault("CUDA_MODULE_LOADING", cfg.cuda_module_loading.upper())
    torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    torch.backends.cudnn.allow_tf32 = cfg.tf32
    # cudnn.benchmark times every conv algorithm once per new shape: the knob ONNX Runtime calls EXHAUSTIVE.
    torch.backends.cudnn.benchmark = cfg.cudnn_conv_algo_search.upper() == "EXHAUSTIVE"


class _GraphCache:
    """One CUDA graph per input shape, captured on first sight; replay skips Python and kernel-launch cost.

    Shapes come from our buckets, so there are few; past `max_shapes` new shapes run eagerly. A capture that
    fails (an op that syncs with the host, e.g. a shape computed on the CPU) disables graphs for the engine and
    everything runs eagerly from then on — slower, never wrong.
    """

    def __init__(self, module: nn.Module, max_shapes: int, role: str) -> None:
        self.module, self.max_shapes, self.role = module, max_shapes, role
        self.graphs: dict[tuple[int, ...], tuple[Any, torch.Tensor, torch.Tensor]] = {}
        self.pool = torch.cuda.graph_pool_handle()
        self.disabled_reason = ""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        entry = self.graphs.get(key)
        if entry is None:
            if self.disabled_reason or len(self.graphs) >= self.max_shapes:
                return _first(self.module(x))
            entry = self._capture(x)
            if entry is None:
                return _first(self.module(x))
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor] | None:
        static_in = x.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        try:
            folded = fold_for_shape(self.module, static_in)
            with torch.cuda.stream(side):
                for _ in range(GRAPH_WARMUP_CALLS):
                    folded(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                static_out = _first(folded(static_in))
        except RuntimeError as exc:
            torch.cuda.synchronize()
            self.disabled_reason = f"capture failed at shape {tuple(x.shape)}: {exc}"[:300]
            log.warning("%s: CUDA graphs off, running eagerly (%s)", self.role, self.disabled_reason)
            return None
        entry = (graph, static_in, static_out)
        self.graphs[tuple(x.shape)] = entry
        return entry


def _first(out: Any) -> torch.Tensor:
    """onnx2torch returns a tuple for multi-output graphs; the stages read the first output."""
    return out[0] if isinstance(out, tuple | list) else out


class TorchEngine:
    """A converted model on one device and precision. float32 NCHW numpy in → float32 numpy out."""

    def __init__(
        self,
        module: nn.Module,
        device: torch.device,
        role: str,
        input_name: str = "x",
        *,
        half: bool = False,
        channels_last: bool = False,
        cuda_graphs: bool = False,
        cuda_graph_max_shapes: int = 32,
    ) -> None:
        self.role, self.device, self.input_name = role, device, input_name
        self.dtype = torch.float16 if half else torch.float32
        self.channels_last = channels_last
        self.module = module.to(device=device, dtype=self.dtype).eval()
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.graphs = _GraphCache(self.module, cuda_graph_max_shapes, role) if cuda_graphs else None
        # CUDA-graph replays share static buffers; eager calls are thread-safe and overlap their host work.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if cuda_graphs else contextlib.nullcontext()
        )
        precision = "fp16" if half else "fp32"
        self.provider = f"torch-{device}/{precision}"
        self.info: dict[str, Any] = {
            "backend": "torch",
            "torch": torch.__version__,
            "device": str(device),
            "precision": precision,
            "channels_last": channels_last,
            "cuda_graphs": cuda_graphs,
            "fp16": None,  # the PrecisionDecision (as a dict) when fp16 was asked for
        }

    def run(self, x: np.ndarray) -> np.ndarray:
        host = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        with self._lock, torch.inference_mode():
            t = host.to(self.device).to(
                self.dtype
            )  # cast after the copy: the GPU does it, not the host cores
            if self.channels_last and t.dim() == 4:
                t = t.contiguous(memory_format=torch.channels_last)
            out = self.graphs(t) if self.graphs is not None else _first(self.module(t))
            result = out.float().contiguous().cpu().numpy()
        if self.graphs is not None:
            self.info["cuda_graph_shapes"] = len(self.graphs.graphs)
            self.info["cuda_graphs_off"] = self.graphs.disabled_reason
        return result

    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """The device read path's call (ocr/device): a float32 NCHW tensor already on this engine's device in,
        the first output as float32 on the device out; nothing crosses to the host."""
        with self._lock, torch.inference_mode():
            t = x.to(self.device).to(self.dtype)
            if self.channels_last and t.dim() == 4:
                t = t.contiguous(memory_format=torch.channels_last)
            out = self.graphs(t) if self.graphs is not None else _first(self.module(t))
            result = out.float()
            if self.graphs is not None:
                result = result.clone()  # the graph's static output is overwritten by the next replay
        return result

    def __repr__(self) -> str:
        return f"TorchEngine({self.role}, {self.provider})"


def create(model_path: Path, cfg: EngineConfig, role: str, options: EngineOptions) -> TorchEngine:
    """The `BACKENDS["torch"]` factory: convert, place, and (if asked) validate fp16 for one model."""
    if not model_path.is_file():
        raise EngineError(f"{role} model not found: {model_path}")
    if cfg.provider.lower() == "cuda":
        os.environ.setdefault("CUDA_MODULE_LOADING", cfg.cuda_module_loading.upper())  # before any context
    device = select_device(cfg, role)
    on_cuda = device.type == "cuda"
    if on_cuda:
        apply_cuda_settings(cfg)
    else:
        torch.set_num_threads(resolve_threads(cfg, options))
    try:
        module = convert_onnx(model_path)
    except ConversionError as exc:
        raise EngineError(f"cannot convert {role} model {model_path} to torch: {exc}") from exc
    depthwise_off = depthwise_off_cudnn(module) if on_cuda and not cfg.cudnn_depthwise else 0
    kwargs: dict[str, Any] = {
        "input_name": input_name(model_path),
        "channels_last": cfg.channels_last and on_cuda,
        "cuda_graphs": cfg.cuda_graphs and on_cuda,
        "cuda_graph_max_shapes": cfg.cuda_graph_max_shapes,
    }
    if not cfg.fp16:
        engine = TorchEngine(module, device, role, **kwargs)
        engine.info.update(depthwise_off_cudnn=depthwise_off, tf32=cfg.tf32 and on_cuda)
        return engine
    fp32 = TorchEngine(copy.deepcopy(module), device, role, **{**kwargs, "cuda_graphs": False})
    half = TorchEngine(module, device, role, half=True, **kwargs)
    decision = validate_precision(
        fp32.run, half.run, calibration_batches(role, det_norm_for(model_path)), cfg.fp16_max_rel_error
    )
    chosen = half if decision.accepted else TorchEngine(fp32.module, device, role, **kwargs)
    chosen.info["fp16"] = decision.as_dict()
    chosen.info.update(depthwise_off_cudnn=depthwise_off, tf32=cfg.tf32 and on_cuda)
    _log_decision(role, model_path, decision)
    return chosen


def _log_decision(role: str, model_path: Path, decision: PrecisionDecision) -> None:
    if decision.accepted:
        log.info("%s (%s): fp16 accepted, relative error %.3g", role, model_path.name, decision.rel_error)
        return
    msg = (
        f"{role} ({model_path.parent.name}/{model_path.name}): fp16 rejected — {decision.reason} against fp32 "
        f"on the calibration batch (engine.fp16_max_rel_error = {decision.max_rel_error}); running in fp32"
    )
    log.warning(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def det_norm_for(model_path: Path) -> str:
    """The detector normalisation of the registry set whose det file this is (store layout: <key>/<file>)."""
    from podocr.ocr.registry import ModelError, Registry

    try:
        registry = Registry.load()
    except ModelError:
        return "imagenet"
    key = model_path.parent.name
    return next((s.det_norm for s in registry.sets.values() if s.det == key), "imagenet")
