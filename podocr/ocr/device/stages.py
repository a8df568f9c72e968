"""The stage objects of the device read path: the host stages' interfaces, their pixel work on the device.

Each subclass takes the host stage object it stands in for (same engine, config, shape policy), accepts
H×W×3 uint8 device tensors where the host stage takes numpy images, builds the model input with `prep`, calls
the engine with a device tensor (`run_tensor` where the engine has it, the torch backend; any other engine gets
a host copy), and post-processes on the device (`db`, `ctc`), so what returns to the host is boxes and strings.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from podocr.ocr.batching import bucket_batches
from podocr.ocr.device import ctc, db, prep
from podocr.ocr.device.profile import DeviceProfile
from podocr.ocr.device.resize import AREA, LINEAR, resize
from podocr.ocr.registry import ModelError
from podocr.ocr.runtime.engine import Engine
from podocr.ocr.stages.cls import CLS_SHAPE, LineClassifier
from podocr.ocr.stages.det import DetBoxes, TextDetector
from podocr.ocr.stages.rec import CascadeRecognizer, TextRecognizer

Image = Any  # an H×W×3 uint8 torch.Tensor on the device (numpy in the host stages)


def run_on_device(engine: Engine, x: torch.Tensor) -> torch.Tensor:
    """The engine's output for a device batch, on the same device."""
    run_tensor = getattr(engine, "run_tensor", None)
    if run_tensor is not None:
        out: torch.Tensor = run_tensor(x)
        return out
    return torch.from_numpy(engine.run(x.cpu().numpy())).to(x.device)


class DeviceTextDetector(TextDetector):
    """`TextDetector.detect` over device images: canvas, normalisation, threshold on the device."""

    def __init__(self, host: TextDetector, profile: DeviceProfile, role: str = "det") -> None:
        super().__init__(host.engine, host.cfg, host.norm, host.shapes)
        self.profile, self.role = profile, role

    def detect(self, images: list[Image]) -> list[DetBoxes]:
        shapes = [self.canvas(int(im.shape[0]), int(im.shape[1])) for im in images]
        out: list[DetBoxes] = [DetBoxes.empty() for _ in images]
        fill = None if self.shapes is None or self.shapes.det_pad == "constant" else self.shapes.det_pad
        for batch in bucket_batches(shapes, self.cfg.batch_size):
            rows = len(batch) if self.shapes is None else self.shapes.batch(len(batch), self.cfg.batch_size)
            with self.profile.stage(f"{self.role}.prep"):
                x = prep.det_batch([images[i] for i in batch], rows, shapes[batch[0]], self.norm, fill)
            with self.profile.stage(f"{self.role}.model"):
                prob = run_on_device(self.engine, x)[:, 0]
            with self.profile.stage(f"{self.role}.post"):
                maps = [
                    prob[j, : int(images[i].shape[0]), : int(images[i].shape[1])] for j, i in enumerate(batch)
                ]
                for i, boxes in zip(batch, db.db_boxes_batch(maps, self.cfg), strict=True):
                    out[i] = boxes
        return out


def line_to_height(crop: Image, height: int, max_width: int) -> Image:
    """`rec.resize_to_height` on the device: area when shrinking, linear when enlarging (the device has no
    cubic or Lanczos resize; `rec.upscale` other than linear reads slightly differently here)."""
    h, w = int(crop.shape[0]), int(crop.shape[1])
    new_w = max(1, min(max_width, math.ceil(height * w / max(h, 1))))
    if (h, w) == (height, new_w):
        return crop
    return resize(crop, (new_w, height), AREA if h > height else LINEAR)


class DeviceLineClassifier(LineClassifier):
    """`LineClassifier.prob_180` over device crops."""

    def __init__(self, host: LineClassifier, profile: DeviceProfile) -> None:
        super().__init__(host.engine, host.cfg, host.shapes)
        self.profile = profile

    def prob_180(self, crops: list[Image]) -> np.ndarray:
        h, w = CLS_SHAPE
        out = np.zeros(len(crops), np.float32)
        for s in range(0, len(crops), self.cfg.batch_size):
            chunk = crops[s : s + self.cfg.batch_size]
            rows = len(chunk) if self.shapes is None else self.shapes.batch(len(chunk), self.cfg.batch_size)
            with self.profile.stage("cls.prep"):
                x = prep.line_batch([line_to_height(c, h, w) for c in chunk], rows, h, w)
            with self.profile.stage("cls.model"):
                p = run_on_device(self.engine, x)[: len(chunk), 1]
            with self.profile.stage("cls.post"):
                out[s : s + len(chunk)] = p.cpu().numpy()
        return out


class DeviceTextRecognizer(TextRecognizer):
    """`TextRecognizer.recognize` over device crops: resize, pad and CTC-decode on the device."""

    def __init__(self, host: TextRecognizer, profile: DeviceProfile, role: str = "rec") -> None:
        super().__init__(host.engine, host.cfg, host.charset, host.height, host.shapes)
        self.profile, self.role = profile, role

    def recognize(
        self, crops: list[Image], known: dict[int, tuple[str, float]] | None = None
    ) -> list[tuple[str, float]]:
        if known:
            todo = [i for i in range(len(crops)) if i not in known]
            fresh = dict(zip(todo, self.recognize([crops[i] for i in todo]), strict=True))
            return [known[i] if i in known else fresh[i] for i in range(len(crops))]
        with self.profile.stage(f"{self.role}.prep"):
            resized = [line_to_height(c, self.height, self.cfg.max_width) for c in crops]
        widths = [self.padded_width(int(r.shape[1])) for r in resized]
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch in bucket_batches(widths, self.cfg.batch_size):
            rows = len(batch) if self.shapes is None else self.shapes.batch(len(batch), self.cfg.batch_size)
            with self.profile.stage(f"{self.role}.prep"):
                x = prep.line_batch([resized[i] for i in batch], rows, self.height, widths[batch[0]])
            with self.profile.stage(f"{self.role}.model"):
                probs = run_on_device(self.engine, x)[: len(batch)]
            if probs.shape[-1] != len(self.charset):
                raise ModelError(
                    f"rec model outputs {probs.shape[-1]} classes but the dictionary gives {len(self.charset)}"
                )
            with self.profile.stage(f"{self.role}.ctc"):
                for i, res in zip(batch, ctc.ctc_greedy_decode(probs, self.charset), strict=True):
                    out[i] = res
        return out


def device_recognizer(
    host: TextRecognizer | CascadeRecognizer, profile: DeviceProfile
) -> DeviceTextRecognizer | CascadeRecognizer:
    """The device stand-in for the pipeline's recogniser: a single one, or the cascade with both of its own."""
    if isinstance(host, CascadeRecognizer):
        cascade = copy.copy(host)
        cascade.fast = DeviceTextRecognizer(host.fast, profile, "rec_fast")
        cascade.strong = DeviceTextRecognizer(host.strong, profile, "rec")
        return cascade
    return DeviceTextRecognizer(host, profile)
