"""0°/180° text-line classifier, batched: tells the pipeline which pages (and lines) are upside down."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from podocr.config import ClsConfig
from podocr.ocr.runtime.engine import Engine

if TYPE_CHECKING:
    from podocr.ocr.shapes import ShapePolicy

CLS_SHAPE = (48, 192)  # PP-OCR mobile line classifiers: 3×48×192, (x/255 − 0.5)/0.5, zero-padded right


class LineClassifier:
    """P(line is rotated 180°) for each crop."""

    def __init__(self, engine: Engine, cfg: ClsConfig, shapes: ShapePolicy | None = None) -> None:
        self.engine, self.cfg = engine, cfg
        self.shapes = shapes  # the GPU profile pads each batch up its ladder; None = batches as they come

    def prob_180(self, crops: list[np.ndarray]) -> np.ndarray:
        h, w = CLS_SHAPE
        out = np.zeros(len(crops), np.float32)
        for s in range(0, len(crops), self.cfg.batch_size):
            chunk = crops[s : s + self.cfg.batch_size]
            rows = len(chunk) if self.shapes is None else self.shapes.batch(len(chunk), self.cfg.batch_size)
            x = np.zeros((rows, 3, h, w), np.float32)
            for j, crop in enumerate(chunk):
                ch, cw = crop.shape[:2]
                new_w = max(1, min(w, math.ceil(h * cw / max(ch, 1))))
                interp = cv2.INTER_AREA if ch > h else cv2.INTER_LINEAR
                r = cv2.resize(crop, (new_w, h), interpolation=interp).astype(np.float32)
                x[j, :, :, :new_w] = r.transpose(2, 0, 1) * (2.0 / 255.0) - 1.0
            out[s : s + len(chunk)] = self.engine.run(x)[: len(chunk), 1]
        return out
