"""Construction from config: resolve the model sets, create each engine once, and wire the stage objects.

Several roles can come from different registry sets (`roi.probe_set` for the probe detector, `det.set` for the
label detector, `rec.fast_set` for a fast first recogniser); each set is resolved and checksum-verified once.
The engines get the input shapes the stages will feed them (`shape_profiles`) so TensorRT builds one profile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podocr.config import PodocrConfig
from podocr.ocr.batching import round_up
from podocr.ocr.registry import ModelSet, resolve
from podocr.ocr.runtime.engine import Engine, EngineOptions, ShapeProfile, create_engine
from podocr.ocr.stages.cls import CLS_SHAPE, LineClassifier
from podocr.ocr.stages.det import TextDetector
from podocr.ocr.stages.rec import CascadeRecognizer, TextRecognizer, load_charset


@dataclass(frozen=True)
class Components:
    """The stage objects a pipeline runs, each holding its engine."""

    models: ModelSet
    detector: TextDetector
    recognizer: TextRecognizer | CascadeRecognizer
    classifier: LineClassifier | None
    probe_detector: TextDetector

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


def build_components(cfg: PodocrConfig, intra_op_threads: int | None = None) -> Components:
    """Resolve and verify the model set(s), then create each engine once (threads: explicit > config)."""
    models = resolve(cfg.models)
    profiles = shape_profiles(cfg, models.rec_height)

    def engine(role: str, path: Path) -> Engine:
        return create_engine(path, cfg.engine, role, EngineOptions(intra_op_threads, profile=profiles[role]))

    def other_set(name: str) -> ModelSet:
        """`models.set` itself, or the named set when it is another one."""
        return (
            models if not name or name == models.name else resolve(dataclasses.replace(cfg.models, set=name))
        )

    def recognizer(ms: ModelSet) -> TextRecognizer:
        return TextRecognizer(engine("rec", ms.rec), cfg.rec, load_charset(ms), ms.rec_height)

    strong = recognizer(models)
    rec: TextRecognizer | CascadeRecognizer = strong
    if cfg.rec.fast_set and cfg.rec.fast_set != models.name:
        rc = cfg.rec
        fast = recognizer(other_set(rc.fast_set))
        rec = CascadeRecognizer(fast, strong, rc.recheck_below, rc.recheck_digits, rc.recheck_digits_below)
    classifier = None
    if cfg.cls.enabled and models.cls is not None:
        classifier = LineClassifier(engine("cls", models.cls), cfg.cls)
    dm = other_set(cfg.det.set)
    detector = TextDetector(engine("det", dm.det), cfg.det, dm.det_norm)
    probe = detector
    if cfg.roi.enabled and cfg.roi.probe_set and cfg.roi.probe_set != models.name:
        ps = other_set(cfg.roi.probe_set)
        probe = TextDetector(engine("det", ps.det), cfg.det, ps.det_norm)
    return Components(models, detector, rec, classifier, probe)


def describe(cfg: PodocrConfig, parts: Components) -> dict[str, Any]:
    """What runs: model set, checksums, backend and the provider each engine actually uses."""
    return {
        "model_set": parts.models.name,
        "probe_set": cfg.roi.probe_set or parts.models.name,
        "rec_fast_set": cfg.rec.fast_set or None,
        "sha256": dict(parts.models.sha256),
        "backend": cfg.engine.backend,
        "providers": {role: e.provider for role, e in parts.engines().items()},
    }


def shape_profiles(cfg: PodocrConfig, rec_height: int) -> dict[str, ShapeProfile]:
    """The input shapes each model sees, from the bucket settings (TensorRT builds one profile from these)."""
    dc, rc, cc = cfg.det, cfg.rec, cfg.cls
    det_max = round_up(dc.max_side, dc.bucket_step)
    h = rec_height
    return {
        "det": ShapeProfile((1, 3, 32, 32), (1, 3, 640, 640), (dc.batch_size, 3, det_max, det_max)),
        "rec": ShapeProfile(
            (1, 3, h, rc.width_bucket), (rc.batch_size, 3, h, 320), (rc.batch_size, 3, h, rc.max_width)
        ),
        "cls": ShapeProfile(
            (1, 3, *CLS_SHAPE), (cc.batch_size, 3, *CLS_SHAPE), (cc.batch_size, 3, *CLS_SHAPE)
        ),
    }
