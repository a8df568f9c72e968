"""Construction from config: resolve the model sets, create each engine once, and wire the stage objects.

Several roles can come from different registry sets (`roi.probe_set` for the probe detector, `det.set` for the
label detector, `rec.fast_set` for a fast first recogniser); each set is resolved and checksum-verified once.
The engines get the input shapes the stages will feed them (`shape_profiles`) so TensorRT builds one profile.

With the GPU shape profile (ocr/shapes.py) the stages pad to a closed set of shapes, every model call runs on one
inference thread (runtime/infer_thread.py), and every shape of the set runs once before the first photo, so a
worker that builds its components at start (the per-worker model cache) is warm when its first task arrives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podocr.config import ConfigError, PodocrConfig
from podocr.ocr.batching import round_up
from podocr.ocr.registry import ModelSet, resolve
from podocr.ocr.runtime.engine import Engine, EngineOptions, ShapeProfile, create_engine, resolve_backend
from podocr.ocr.runtime.infer_thread import InferenceThread, ThreadedEngine
from podocr.ocr.shapes import ShapePolicy, WarmUp, closed_set, profile_name, warm_up
from podocr.ocr.stages.cls import CLS_SHAPE, LineClassifier
from podocr.ocr.stages.det import TextDetector
from podocr.ocr.stages.rec import CascadeRecognizer, TextRecognizer, load_charset

if TYPE_CHECKING:
    from podocr.ocr.device.reader import DeviceReader

DEVICE_OPS = ("auto", "on", "off")


@dataclass(frozen=True)
class Components:
    """The stage objects a pipeline runs, each holding its engine."""

    models: ModelSet
    detector: TextDetector
    recognizer: TextRecognizer | CascadeRecognizer
    classifier: LineClassifier | None
    probe_detector: TextDetector
    shapes: ShapePolicy | None = None  # the GPU profile's closed set; None = the CPU profile
    thread: InferenceThread | None = None  # owns every model call when set
    warmed: WarmUp | None = None  # what the warm-up at load ran

    def engines(self) -> dict[str, Engine]:
        """Role → engine, for reporting which provider actually runs each model."""
        engines: dict[str, Engine] = {"det": self.detector.engine}
        if self.probe_detector is not self.detector:
            engines["probe_det"] = self.probe_detector.engine
        if isinstance(self.recognizer, CascadeRecognizer):
            engines["rec_fast"] = self.recognizer.fast.engine
            engines["rec"] = self.recognizer.strong.engine
        else:
            engines["rec"] = self.recognizer.engine
        if self.classifier is not None:
            engines["cls"] = self.classifier.engine
        return engines

    def rec_heights(self) -> dict[str, int]:
        """Recogniser role → its model's input height."""
        if isinstance(self.recognizer, CascadeRecognizer):
            return {"rec_fast": self.recognizer.fast.height, "rec": self.recognizer.strong.height}
        return {"rec": self.recognizer.height}

    def close(self) -> None:
        """Stop the inference thread (after the calls already queued); the engines stay loaded."""
        if self.thread is not None:
            self.thread.close()


def build_components(cfg: PodocrConfig, intra_op_threads: int | None = None) -> Components:
    """Resolve and verify the model set(s), then create each engine once (threads: explicit > config)."""
    models = resolve(cfg.models)
    policy = ShapePolicy.from_config(cfg) if profile_name(cfg) == "gpu" else None
    profiles = shape_profiles(cfg, models.rec_height, policy)
    thread = InferenceThread() if _wants_thread(cfg, policy) else None

    def engine(role: str, path: Path) -> Engine:
        e = create_engine(path, cfg.engine, role, EngineOptions(intra_op_threads, profile=profiles[role]))
        return e if thread is None else ThreadedEngine(e, thread, role)

    def other_set(name: str) -> ModelSet:
        """`models.set` itself, or the named set when it is another one."""
        return (
            models if not name or name == models.name else resolve(dataclasses.replace(cfg.models, set=name))
        )

    cascade = bool(cfg.rec.fast_set and cfg.rec.fast_set != models.name)
    fast_set = other_set(cfg.rec.fast_set) if cascade else models
    det_set = other_set(cfg.det.set)
    probe_set = (
        other_set(cfg.roi.probe_set)
        if cfg.roi.enabled and cfg.roi.probe_set and cfg.roi.probe_set != models.name
        else None
    )
    # key → (role, file): every engine this pipeline needs, created at once below
    wanted: dict[str, tuple[str, Path]] = {"rec": ("rec", models.rec), "det": ("det", det_set.det)}
    if cascade:
        wanted["rec_fast"] = ("rec", fast_set.rec)
    if cfg.cls.enabled and models.cls is not None:
        wanted["cls"] = ("cls", models.cls)
    if probe_set is not None:
        wanted["probe_det"] = ("det", probe_set.det)
    engines = create_engines(wanted, engine, concurrent=_compiles_on_cpu(cfg))

    def recognizer(key: str, ms: ModelSet) -> TextRecognizer:
        return TextRecognizer(engines[key], cfg.rec, load_charset(ms), ms.rec_height, policy)

    strong = recognizer("rec", models)
    rec: TextRecognizer | CascadeRecognizer = strong
    if cascade:
        rc = cfg.rec
        fast = recognizer("rec_fast", fast_set)
        rec = CascadeRecognizer(
            fast,
            strong,
            rc.recheck_below,
            rc.recheck_digits,
            rc.recheck_digits_below,
            rc.small_px,
            rc.recheck_small_below,
            rc.small_strong,
        )
    classifier = LineClassifier(engines["cls"], cfg.cls, policy) if "cls" in engines else None
    detector = TextDetector(engines["det"], cfg.det, det_set.det_norm, policy)
    probe = detector
    if probe_set is not None:
        probe = TextDetector(engines["probe_det"], cfg.det, probe_set.det_norm, policy)
    parts = Components(models, detector, rec, classifier, probe, policy, thread)
    if policy is not None and cfg.engine.warm_up:
        parts = dataclasses.replace(parts, warmed=warm_up_components(cfg, parts))
    return parts


def create_engines(
    wanted: dict[str, tuple[str, Path]], create: Callable[[str, Path], Engine], concurrent: bool
) -> dict[str, Engine]:
    """`create(role, file)` for every key. With `concurrent`, the first on this thread (a backend sets itself
    up lazily on first use), then the rest on two threads: compiling a model for the CPU is one core's work
    for a fraction of a second per model, and a worker waits for all of them before its first photo."""
    keys = list(wanted)
    if not concurrent or len(keys) < 3:
        return {k: create(*wanted[k]) for k in keys}
    out = {keys[0]: create(*wanted[keys[0]])}
    with ThreadPoolExecutor(2, thread_name_prefix="podocr-load") as pool:
        made = pool.map(lambda k: create(*wanted[k]), keys[1:])
        out.update(zip(keys[1:], made, strict=True))
    return out


def _compiles_on_cpu(cfg: PodocrConfig) -> bool:
    """Whether the engines are CPU engines of a backend whose loading is safe on several threads (OpenVINO,
    ONNX Runtime); GPU engines (CUDA contexts, TensorRT builders) are created one by one."""
    return cfg.engine.provider.strip().lower() == "cpu" and resolve_backend(cfg.engine) in (
        "openvino",
        "onnxruntime",
    )


def _wants_thread(cfg: PodocrConfig, policy: ShapePolicy | None) -> bool:
    want = cfg.engine.infer_thread.strip().lower()
    if want not in ("auto", "on", "off"):
        raise ConfigError(f"engine.infer_thread = {want!r}: use auto, on or off")
    return want == "on" or (want == "auto" and policy is not None)


def warm_up_components(cfg: PodocrConfig, parts: Components) -> WarmUp:
    """Run every shape of the GPU profile's closed set once on its engine (callable again, e.g. by a worker's
    model cache after a reload; a no-op set when the CPU profile is on)."""
    if parts.shapes is None:
        return WarmUp()
    return warm_up(parts.engines(), closed_set(cfg, parts.shapes, parts.rec_heights()))


def device_ops_on(cfg: PodocrConfig) -> bool:
    """`engine.device_ops` resolved: `auto` is on exactly when the torch backend runs on CUDA (torch is imported
    only then, so the CPU default never loads it)."""
    want = cfg.engine.device_ops.strip().lower()
    if want not in DEVICE_OPS:
        raise ConfigError(f"engine.device_ops = {cfg.engine.device_ops!r}: use {', '.join(DEVICE_OPS)}")
    if want != "auto":
        return want == "on"
    if cfg.engine.backend.strip().lower() != "torch" or cfg.engine.provider.strip().lower() != "cuda":
        return False
    import torch

    return bool(torch.cuda.is_available()) and cfg.engine.device_id < torch.cuda.device_count()


def device_reader(cfg: PodocrConfig, parts: Components) -> DeviceReader | None:
    """The device read path for these components when `engine.device_ops` asks for it, else None. Its device
    is the torch engines' (the GPU with the torch backend on CUDA; the CPU otherwise, which is how the tests run
    it)."""
    if not device_ops_on(cfg):
        return None
    from podocr.ocr.device.reader import DeviceReader, ops_device

    return DeviceReader(cfg, parts, ops_device(cfg))


def describe(cfg: PodocrConfig, parts: Components) -> dict[str, Any]:
    """What runs: model set, checksums, backend and the provider each engine actually uses."""
    return {
        "model_set": parts.models.name,
        "probe_set": cfg.roi.probe_set or parts.models.name,
        "rec_fast_set": cfg.rec.fast_set or None,
        "sha256": dict(parts.models.sha256),
        "backend": resolve_backend(cfg.engine),
        "providers": {role: e.provider for role, e in parts.engines().items()},
        "shape_profile": "gpu" if parts.shapes is not None else "cpu",
        "infer_thread": parts.thread is not None,
        **({"warm_up": parts.warmed.as_dict()} if parts.warmed is not None else {}),
    }


def shape_profiles(
    cfg: PodocrConfig, rec_height: int, policy: ShapePolicy | None = None
) -> dict[str, ShapeProfile]:
    """The input shapes each model sees (TensorRT builds one profile from these): the bucket settings' range, or
    with the GPU profile the closed set's smallest and largest shapes."""
    dc, rc, cc = cfg.det, cfg.rec, cfg.cls
    h = rec_height
    cls_min, cls_max = (1, 3, *CLS_SHAPE), (cc.batch_size, 3, *CLS_SHAPE)
    if policy is not None:
        s0, s1 = policy.det_sides[0], policy.det_sides[-1]
        w0, w1 = policy.rec_widths[0], policy.rec_widths[-1]
        opt_w = policy.rec_width(320)
        b0 = policy.batches[0]
        return {
            "det": ShapeProfile((b0, 3, s0, s0), (b0, 3, s0, s0), (dc.batch_size, 3, s1, s1)),
            "rec": ShapeProfile((b0, 3, h, w0), (rc.batch_size, 3, h, opt_w), (rc.batch_size, 3, h, w1)),
            "cls": ShapeProfile((b0, 3, *CLS_SHAPE), (cc.batch_size, 3, *CLS_SHAPE), cls_max),
        }
    det_max = round_up(dc.max_side, dc.bucket_step)
    return {
        "det": ShapeProfile((1, 3, 32, 32), (1, 3, 640, 640), (dc.batch_size, 3, det_max, det_max)),
        "rec": ShapeProfile(
            (1, 3, h, rc.width_bucket), (rc.batch_size, 3, h, 320), (rc.batch_size, 3, h, rc.max_width)
        ),
        "cls": ShapeProfile(cls_min, (cc.batch_size, 3, *CLS_SHAPE), cls_max),
    }
