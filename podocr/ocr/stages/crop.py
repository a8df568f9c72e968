"""Crop: cut every detected line out of the full-resolution photo, straightened to read left → right."""

from __future__ import annotations

import cv2
import numpy as np

from podocr.ocr.geometry import quad_size
from podocr.ocr.region import Region


def crop_regions(photos: list[np.ndarray], regions: list[Region]) -> None:
    """Fill each region's `crops`, one per quad, from its own photo (not the scaled detection input)."""
    for r in regions:
        r.crops = [crop_quad(photos[r.page], q) for q in r.quads]


def crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Perspective-crop a quad (TL,TR,BR,BL) at its native size so the text reads left→right, upright."""
    w, h = quad_size(quad)
    cw, ch = max(1, round(w)), max(1, round(h))
    # quads are in continuous coordinates (pixel edges at integers); cv2 samples at pixel indices: shift ½ px
    dst = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32) - 0.5
    m = cv2.getPerspectiveTransform(quad.astype(np.float32) - 0.5, dst)
    return cv2.warpPerspective(image, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
