"""fp16 is never trusted blindly: each model is checked against fp32 on a built-in calibration batch at load.

Half precision can break a model outright — the PP-OCRv4 mobile detector overflows fp16's range and its
probability map collapses (docs/gpu.md) — while others stay close to fp32. The check
runs the model in both precisions on deterministic, label-like inputs (rendered text lines, a barcode, a
parcel-coloured background: random noise alone leaves DB's map near zero and hides the failure) and keeps
fp16 only if the worst relative error stays under `engine.fp16_max_rel_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from podocr.ocr.runtime.engine import relative_error
from podocr.ocr.stages.cls import CLS_SHAPE
from podocr.ocr.stages.det import normalise

log = logging.getLogger(__name__)

LABEL_LINES = (
    "1Z 999 AA1 01 2345 6784",
    "SHIP TO: JANE Q. DOE",
    "1234 MAPLE AVENUE APT 5B",
    "SPRINGFIELD IL 62704-1234",
    "USPS TRACKING # 9400 1000 0000 0000 0000 00",
    "WT 2.3 LB   REF: PO-88231",
)
DET_SIDE = 640  # a detector bucket every config produces (multiple of 64 and 32)
REC_WIDTH = 320  # the classic PP-OCR recogniser width: every calibration line fits it


@dataclass(frozen=True)
class PrecisionDecision:
    """What precision a model runs in and why; kept on the engine (`engine.info["fp16"]`) and logged."""

    requested: str  # "fp16"
    precision: str  # what runs: "fp16" if accepted, else "fp32"
    rel_error: float  # worst ‖lowp − fp32‖/‖fp32‖ over the calibration batches (inf: non-finite output)
    max_rel_error: float
    reason: str

    @property
    def accepted(self) -> bool:
        return self.precision == self.requested

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_precision(
    run_fp32: Callable[[np.ndarray], np.ndarray],
    run_lowp: Callable[[np.ndarray], np.ndarray],
    calibration: Sequence[np.ndarray],
    max_rel_error: float,
    requested: str = "fp16",
) -> PrecisionDecision:
    """Run both on every calibration batch; accept the low precision only if every error is finite and small."""
    if not calibration:
        raise ValueError("validate_precision needs at least one calibration batch")
    worst = 0.0
    for x in calibration:
        ref = np.asarray(run_fp32(x), np.float32)
        out = np.asarray(run_lowp(x), np.float32)
        if out.shape != ref.shape:
            raise ValueError(f"{requested} output shape {out.shape} != fp32 output shape {ref.shape}")
        err = relative_error(out, ref) if np.isfinite(out).all() else float("inf")
        worst = max(worst, err)
    if worst <= max_rel_error:
        return PrecisionDecision(requested, requested, worst, max_rel_error, "within tolerance")
    why = (
        "non-finite output (overflow)"
        if worst == float("inf")
        else f"relative error {worst:.3g} > {max_rel_error}"
    )
    return PrecisionDecision(requested, "fp32", worst, max_rel_error, why)


# ---- calibration inputs ------------------------------------------------------------------------------------


def calibration_batches(role: str, det_norm: str = "imagenet", rec_height: int = 48) -> list[np.ndarray]:
    """Deterministic model inputs for `role` (det/rec/cls), float32 NCHW, normalised as the stages do."""
    if role == "det":
        images = [_label_photo(DET_SIDE, DET_SIDE, dark=False), _label_photo(DET_SIDE, DET_SIDE, dark=True)]
        return [np.stack([normalise(im, det_norm) for im in images])]
    if role in ("rec", "cls"):
        height, width = (rec_height, REC_WIDTH) if role == "rec" else CLS_SHAPE
        flips = [role == "cls" and i % 2 == 1 for i in range(len(LABEL_LINES))]
        return [np.stack([_line_crop(t, height, width, f) for t, f in zip(LABEL_LINES, flips, strict=True)])]
    raise ValueError(f"unknown model role {role!r}; expected det, rec or cls")


def _label_photo(height: int, width: int, dark: bool) -> np.ndarray:
    """A parcel-like photo (BGR uint8): shaded cardboard, a slightly rotated white label, text and a barcode."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.uint8)
    base = (40, 45, 55) if dark else (95, 135, 175)  # dark tape or brown cardboard, BGR
    for c, v in enumerate(base):
        img[..., c] = np.clip(v + 35 * xx / width - 25 * yy / height, 0, 255).astype(np.uint8)
    label = np.full((int(height * 0.7), int(width * 0.72), 3), 246, np.uint8)
    y = 36
    for i, text in enumerate(LABEL_LINES):
        scale = 0.55 + 0.12 * (i % 3)
        cv2.putText(
            label, text, (14, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (25, 25, 25), 1 + i % 2, cv2.LINE_AA
        )
        y += int(34 * scale) + 14
    for k in range(52):  # a Code-128-looking bar pattern
        x0 = 18 + k * 7
        cv2.rectangle(label, (x0, y + 6), (x0 + (k * 5) % 3, y + 60), (0, 0, 0), -1)
    lh, lw = label.shape[:2]
    cx, cy = width / 2, height / 2
    m = cv2.getRotationMatrix2D((lw / 2, lh / 2), -4.0 if dark else 3.0, 1.0)
    m[:, 2] += np.array([cx - lw / 2, cy - lh / 2])
    mask = cv2.warpAffine(np.full((lh, lw), 255, np.uint8), m, (width, height))
    warped = cv2.warpAffine(label, m, (width, height))
    img[mask > 0] = warped[mask > 0]
    if dark:  # light text straight on dark tape
        cv2.putText(img, "FRAGILE  THIS SIDE UP", (30, 50), cv2.FONT_HERSHEY_DUPLEX, 1.0, (230, 230, 230), 2)
    blurred: np.ndarray = cv2.GaussianBlur(img, (3, 3), 0.8)
    return blurred


def _line_crop(text: str, height: int, width: int, flip: bool) -> np.ndarray:
    """One text line as the recogniser sees it: height-normalised, right-padded with zeros after normalising."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    canvas: np.ndarray = np.full((th + base + 12, tw + 12, 3), 240, np.uint8)
    cv2.putText(canvas, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2, cv2.LINE_AA)
    if flip:
        canvas = cv2.rotate(canvas, cv2.ROTATE_180)
    w = min(width, max(1, round(canvas.shape[1] * height / canvas.shape[0])))
    resized = cv2.resize(canvas, (w, height), interpolation=cv2.INTER_AREA)
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :w] = normalise(resized, "half")
    return out
