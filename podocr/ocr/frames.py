"""The coordinate frames a region's text passes through, and the affines between them.

photo (original pixels) → detection input (label crop, scaled to the reading resolution, turned by the plan)
→ upright reading frame (turned again for sideways text the probe missed, then 180° if the region was read
upside down). Quads are kept in photo pixels throughout; the upright frame is only needed for reading order.
"""

from __future__ import annotations

import cv2
import numpy as np

from podocr.ocr.geometry import apply_affine, compose, rotate90, rotate90_affine
from podocr.ocr.region import Region
from podocr.ocr.stages.roi import ReadPlan


def region_image(photo: np.ndarray, plan: ReadPlan, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop → scale → turn; and the affine taking detection-input px back to photo px.

    Each side is scaled to the nearest multiple of `step` (the detector's shape bucket) instead of being
    padded up to it: a little anisotropy costs DB nothing, while padding adds pixels to every model call.
    """
    x0, y0, x1, y1 = plan.box
    (sw, sh), shrink, to_photo = region_geometry(plan, step)
    crop = photo[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    scaled = crop if (sw, sh) == (x1 - x0, y1 - y0) else cv2.resize(crop, (sw, sh), interpolation=interp)
    return rotate90(scaled, plan.quarter_turns), to_photo


def region_geometry(plan: ReadPlan, step: int) -> tuple[tuple[int, int], bool, np.ndarray]:
    """The scaled crop's (width, height), whether it shrinks (area filter) or not (linear), and the affine
    from detection-input px to photo px: what `region_image` does, without the pixels (the device path's too)."""
    x0, y0, x1, y1 = plan.box
    w, h = x1 - x0, y1 - y0
    sw = max(step, round(w * plan.scale / step) * step)
    sh = max(step, round(h * plan.scale / step) * step)
    to_crop = np.array([[w / sw, 0, x0], [0, h / sh, y0]], np.float64)
    return (sw, sh), sw * sh < w * h, compose(to_crop, rotate90_affine(plan.quarter_turns, sw, sh))


def to_upright(region: Region, quads: np.ndarray) -> np.ndarray:
    """Quads (photo px) in the region's upright frame: the detection input, turned by `extra_turns`, then
    180° if the region was flipped."""
    pts = apply_affine(quads, cv2.invertAffineTransform(region.to_photo))
    h, w = region.image.shape[:2]
    if region.extra_turns:
        pts = apply_affine(pts, cv2.invertAffineTransform(rotate90_affine(region.extra_turns, w, h)))
        if region.extra_turns % 2:
            h, w = w, h
    if region.flipped:
        pts = apply_affine(pts, rotate90_affine(2, w, h))
    return pts
