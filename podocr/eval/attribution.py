"""Why a ground-truth line was not read: never detected, or detected and then lost — and how tall it was.

Line recall alone cannot say which stage to improve. With the ground truth's line polygons and the pipeline's
line boxes (both in photo pixels), each missed line is put in one cause, checked in this order:

* `misread`: a kept box covers the line, and no other GT line — the recogniser read it wrong;
* `merged`: the kept box over it also covers another GT line — two lines read as one;
* `dropped`: only a box whose read was blank or below `rec.drop_score` covers it;
* `split`: two or more boxes each cover a part of it, together most of it;
* `partial`: one box covers only a part of it (the line was cut short);
* `not_detected`: no box covers any real part of it;
* `error` (the photo failed) and `unknown` (no geometry on one side: a results file without quads, a
  labels file without polygons).

"Covers" is geometric: the share of the GT line's area inside the box. Boxes are DB's unclipped rectangles,
larger than the ink, so coverage of the GT line is the measure, not IoU. The box's height is the height the
recogniser saw the line at: crops are cut from the photo at their native size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Poly = Sequence[Sequence[float]]  # 4 points (TL, TR, BR, BL of the reading direction), photo px

HEIGHT_BINS: tuple[tuple[float, str], ...] = (
    (8.0, "<8"),
    (12.0, "8-12"),
    (16.0, "12-16"),
    (24.0, "16-24"),
    (float("inf"), ">=24"),
)
BIN_NAMES = tuple(name for _, name in HEIGHT_BINS)
CAUSES = ("not_detected", "partial", "split", "merged", "dropped", "misread", "error", "unknown")
COVERED = 0.5  # a box is over a GT line when it holds at least this share of the line's area
PART = 0.15  # ... and holds a part of it from this share up


@dataclass(frozen=True, slots=True)
class Miss:
    """The cause of one missed GT line, and the height of the box it was read from (None: no single box)."""

    cause: str
    box_height: float | None = None


def text_height(poly: Poly) -> float:
    """Height of a text quad: the mean of its two sides from the top edge to the bottom edge."""
    q = np.asarray(poly, np.float64)
    return float((np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2)


def height_bin(height: float | None) -> str:
    """The text-height bin (px) a GT line falls in; `unknown` without a polygon."""
    if height is None:
        return "unknown"
    return next(name for edge, name in HEIGHT_BINS if height < edge)


def coverage(line: Poly, box: Poly) -> float:
    """Share of `line`'s area inside `box` (both convex quads; 0 for a degenerate line)."""
    a = _convex(line)
    area = cv2.contourArea(a)
    if area <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(a, _convex(box))
    return float(inter) / area


def attribute(index: int, gt: Sequence[Poly], kept: Sequence[Poly], rejected: Sequence[Poly]) -> Miss:
    """The cause for GT line `index` (of the photo's GT polygons `gt`) that was not read, given the boxes of
    the lines the pipeline kept and of those it rejected (see the module docstring for the order)."""
    line = gt[index]
    kept_cov = [coverage(line, b) for b in kept]
    rej_cov = [coverage(line, b) for b in rejected]
    if kept_cov and max(kept_cov) >= COVERED:
        k = int(np.argmax(kept_cov))
        others = any(j != index and coverage(g, kept[k]) >= COVERED for j, g in enumerate(gt))
        return Miss("merged" if others else "misread", text_height(kept[k]))
    if rej_cov and max(rej_cov) >= COVERED:
        k = int(np.argmax(rej_cov))
        return Miss("dropped", text_height(rejected[k]))
    parts = [c for c in kept_cov + rej_cov if c >= PART]
    if len(parts) >= 2 and sum(parts) >= COVERED:
        return Miss("split")
    if parts:
        return Miss("partial")
    return Miss("not_detected")


def _convex(poly: Poly) -> np.ndarray:
    return cv2.convexHull(np.asarray(poly, np.float32).reshape(-1, 1, 2))
