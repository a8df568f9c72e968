"""Crop: cut every detected line out of the full-resolution photo, straightened to read left → right.

Lines are cut at their own size; with a `min_height` (the recogniser's input height, `rec.crop_to_height`)
a line smaller than that is cut straight at it instead, so small print is resampled once, with the
`rec.upscale` filter, rather than cut (one interpolation) and then enlarged (a second one, which blurs).
"""

from __future__ import annotations

import cv2
import numpy as np

from podocr.ocr.geometry import quad_size
from podocr.ocr.region import Region


def crop_regions(
    photos: list[np.ndarray], regions: list[Region], min_height: int = 0, interp: int = cv2.INTER_LINEAR
) -> None:
    """Fill each region's `crops`, one per quad, from its own photo (not the scaled detection input)."""
    for r in regions:
        r.crops = [crop_quad(photos[r.page], q, min_height, interp) for q in r.quads]


def crop_quad(
    image: np.ndarray, quad: np.ndarray, min_height: int = 0, interp: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Perspective-crop a quad (TL,TR,BR,BL) so the text reads left→right, upright: at its native size, or
    enlarged to `min_height` when smaller (then sampled with `interp`)."""
    w, h = quad_size(quad)
    scale = min_height / h if min_height and 0 < h < min_height else 1.0
    cw, ch = max(1, round(w * scale)), max(1, round(h * scale))
    flags = interp if scale > 1.0 else cv2.INTER_LINEAR
    # quads are in continuous coordinates (pixel edges at integers); cv2 samples at pixel indices: shift ½ px
    dst = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32) - 0.5
    m = cv2.getPerspectiveTransform(quad.astype(np.float32) - 0.5, dst)
    return cv2.warpPerspective(image, m, (cw, ch), flags=flags, borderMode=cv2.BORDER_REPLICATE)
