"""Plan: probe each photo at low resolution, find its label(s) (roi.py), and cut the detection inputs.

The probe runs the text detector on a photo shrunk to `roi.probe_side`. Detectors trained on upright text
find little of a sideways label's text, so a probe that may show one (part of its text runs vertically, or it
saw little text) is detected again turned 90°, and the turn whose lines are longer wins.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from podocr.config import DetConfig, RoiConfig
from podocr.ocr.clock import StageClock
from podocr.ocr.frames import region_image
from podocr.ocr.geometry import apply_affine, quad_size, rotate90, rotate90_affine, runs_vertically
from podocr.ocr.region import Region
from podocr.ocr.stages.det import DetBoxes, TextDetector, det_step
from podocr.ocr.stages.orient import Turn
from podocr.ocr.stages.roi import plan_reads, whole_photo_plan

LINE_ELONGATION = 2.0  # a probe box at least this many times longer than tall is a text line, not a glyph
SECOND_LOOK_VERTICAL = 0.15  # probe line length running vertically above this share → look again, turned
SECOND_LOOK_MIN_TEXT = 0.6  # probe line length under this × the probe's long side → look again, turned


def plan_regions(
    photos: list[np.ndarray],
    probe_detector: TextDetector,
    roi: RoiConfig,
    det: DetConfig,
    clock: StageClock,
    step: int | None = None,
) -> list[Region]:
    """Probe → read plans → detection inputs (sides in multiples of `step`: the label detector's grid, by
    default `det.bucket_step`'s); time is shared by photo pixels, then by probe pixels."""
    if roi.enabled:
        with clock.stage("roi", {i: float(p.shape[0] * p.shape[1]) for i, p in enumerate(photos)}):
            scales = [probe_scale(p.shape[0], p.shape[1], roi.probe_side) for p in photos]
            probes = [probe_image(p, s) for p, s in zip(photos, scales, strict=True)]
        with clock.stage("roi", {i: float(p.shape[0] * p.shape[1]) for i, p in enumerate(probes)}):
            found = probe(probe_detector, probes)
            plans = [
                plan_reads(pr, b, s, p.shape[0], p.shape[1], roi, det)
                for pr, b, s, p in zip(probes, found, scales, photos, strict=True)
            ]
    else:
        plans = [[whole_photo_plan(p.shape[0], p.shape[1], det)] for p in photos]
    regions = []
    step = step or det_step(det)
    with clock.stage("roi", {i: float(sum(pl.scale**2 for pl in ps)) for i, ps in enumerate(plans)}):
        for page, (photo, page_plans) in enumerate(zip(photos, plans, strict=True)):
            for plan in page_plans:
                image, to_photo = region_image(photo, plan, step)
                regions.append(Region(page, plan, image, to_photo))
    return regions


def probe_scale(height: int, width: int, probe_side: int) -> float:
    return min(1.0, probe_side / max(height, width))


def probe_image(photo: np.ndarray, scale: float) -> np.ndarray:
    """The probe: area-averaged from a strided view when shrinking a lot (much cheaper than a full INTER_AREA
    pass over a phone photo, and the probe only has to find the label)."""
    step = int(0.5 / scale) if scale < 0.5 else 1
    view = photo[::step, ::step] if step > 1 else photo
    h, w = photo.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (view.shape[1], view.shape[0]):
        return view
    return cv2.resize(view, size, interpolation=cv2.INTER_AREA)


def probe(detector: TextDetector, probes: list[Any], turn: Turn = rotate90) -> list[DetBoxes]:
    """Probe boxes per photo. A probe that may show a sideways label is detected again turned 90° (`turn`: the
    device path passes its own), and the turn whose lines are longer wins (boxes mapped back to the probe's
    frame, so the label reads as sideways)."""
    found = detector.detect(probes)
    again = [i for i, b in enumerate(found) if wants_second_look(b, max(int(s) for s in probes[i].shape[:2]))]
    if not again:
        return found
    turned = detector.detect([turn(probes[i], 3) for i in again])
    for i, boxes in zip(again, turned, strict=True):
        if line_text(boxes)[0] > line_text(found[i])[0]:
            h, w = (int(s) for s in probes[i].shape[:2])
            found[i] = DetBoxes(apply_affine(boxes.quads, rotate90_affine(3, w, h)), boxes.scores)
    return found


def line_text(boxes: DetBoxes) -> tuple[float, float]:
    """Total length of the line-like boxes (≥ `LINE_ELONGATION`:1), and the share of it running vertically.

    The detectors are trained on upright text: on a label lying sideways they find fewer, shorter lines (often
    glyph-sized pieces), so the total line length is the cheap measure of "this way up reads better".
    """
    if not len(boxes):
        return 0.0, 0.0
    size = np.array([quad_size(q) for q in boxes.quads], np.float32)
    line = size[:, 0] >= LINE_ELONGATION * np.maximum(size[:, 1], 1e-3)
    vertical = runs_vertically(boxes.quads)
    total = float(size[line, 0].sum())
    return total, float(size[line & vertical, 0].sum()) / total if total else 0.0


def wants_second_look(boxes: DetBoxes, probe_long_side: int) -> bool:
    """True when the probe may have met a sideways label: part of its text runs vertically, or it saw little
    text. Such probes are detected again turned 90° (`probe`)."""
    total, vertical = line_text(boxes)
    return vertical >= SECOND_LOOK_VERTICAL or total < SECOND_LOOK_MIN_TEXT * probe_long_side
