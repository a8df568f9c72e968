"""Zoom: detect a label again, finer, when its detected lines show it is smaller than the probe judged.

The ROI stage sizes the detection input from the label's size as the probe saw it (roi.py), and a probe box
grown onto carton print, a white mailer or a wide shadow makes the label look bigger than it is: the reading
scale comes out too coarse and the label's smallest lines (sender block, reference and weight lines) fall
under what the detector finds. The first detection pass knows better: the box around its lines of label-like
height (carton print's much taller words left out), shaped to a 4×6 label, gives the label's size again, and
when that asks for a clearly finer scale (`det.zoom_gain` times the first), the same crop is detected once more
at it. The crop is kept, not narrowed to the lines found: the lines the first pass missed lie outside them.
The finer pass replaces the first only when it found at least as many lines. Off by default: docs/eval.md has
what it found and what it cost.
"""

from __future__ import annotations

import numpy as np

from podocr.config import DetConfig
from podocr.ocr.frames import region_image
from podocr.ocr.geometry import quad_size, sideways_turns
from podocr.ocr.region import Region
from podocr.ocr.stages.det import det_step
from podocr.ocr.stages.roi import MIN_LABEL_LINES, Box, ReadPlan, bbox, det_scale, label_shaped, long_side

LABEL_HEIGHTS = (0.5, 2.0)  # lines this share of the median line height count as the label's own text


def zoom_plan(region: Region, shape: tuple[int, ...], det: DetConfig) -> ReadPlan | None:
    """The finer read plan for a label region (same crop, finer scale), or None when its first scale was about
    right (or it is not a label, or it has too few lines to judge)."""
    if det.zoom_gain <= 0 or not region.plan.from_roi or len(region.quads) < MIN_LABEL_LINES:
        return None
    heights = np.array([quad_size(q)[1] for q in region.quads])
    median = float(np.median(heights))
    own = region.quads[(heights >= LABEL_HEIGHTS[0] * median) & (heights <= LABEL_HEIGHTS[1] * median)]
    if len(own) < MIN_LABEL_LINES:
        return None
    text = bbox(own.reshape(-1, 2))
    shaped = label_shaped(text, own, sideways_turns(own), (int(shape[0]), int(shape[1])))
    scale = det_scale(region.plan.box, long_side(shaped), det)
    if scale < det.zoom_gain * region.plan.scale:
        return None
    return ReadPlan(region.plan.box, region.plan.quarter_turns, scale, True)


def zoomed_regions(
    photos: list[np.ndarray], regions: list[Region], det: DetConfig, step: int | None = None
) -> dict[int, Region]:
    """New regions (region index → the finer region, not yet detected) for the labels worth a finer look
    (sides in multiples of `step`, as `plan.plan_regions`)."""
    out = {}
    step = step or det_step(det)
    for k, r in enumerate(regions):
        plan = zoom_plan(r, photos[r.page].shape[:2], det)
        if plan is not None:
            image, to_photo = region_image(photos[r.page], plan, step)
            out[k] = Region(r.page, plan, image, to_photo)
    return out


def adopt_zoomed(regions: list[Region], zoomed: dict[int, Region]) -> int:
    """Put each detected finer region in its label's place when it found at least as many lines inside its box
    as the first pass did; the first pass's boxes outside it are kept. Returns how many were adopted."""
    adopted = 0
    for k, z in zoomed.items():
        old = regions[k]
        outside = ~_inside(old.quads, z.plan.box)
        if len(z.quads) < int((~outside).sum()):
            continue
        z.quads = np.concatenate([z.quads, old.quads[outside]]).astype(np.float32)
        regions[k] = z
        adopted += 1
    return adopted


def _inside(quads: np.ndarray, box: Box) -> np.ndarray:
    """Which quads have their centre inside `box`."""
    if not len(quads):
        return np.zeros(0, bool)
    c = quads.mean(axis=1)
    x0, y0, x1, y1 = box
    return np.asarray((c[:, 0] >= x0) & (c[:, 0] < x1) & (c[:, 1] >= y0) & (c[:, 1] < y1))
