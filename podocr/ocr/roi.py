"""Find the shipping label cheaply and choose the resolution to read it at.

A low-resolution probe (long side `roi.probe_side`) runs the text detector; its boxes are clustered into dense
text regions (the label is the densest), which are cropped from the full-resolution photo with a margin. The
detection input size is then chosen from the text size the probe saw, not from the photo size: a 12-MP photo
of a small label and a close-up of a big one both end up with text ≈ `det.target_text_px` tall, which is what
the detector reads best, and the work per photo stays bounded. The probe's box shapes also say whether the
label lies sideways (most lines taller than wide), so the crop is turned upright before detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from podocr.config import DetConfig, RoiConfig
from podocr.ocr.det import DetBoxes, limit_scale
from podocr.ocr.geometry import quad_size


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How to read one region of a photo: crop box (photo px), quarter turns clockwise, detection scale."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    quarter_turns: int  # 0 or 3: sideways labels are turned upright; 180° is decided later by line votes
    scale: float  # detection input = crop × scale
    from_roi: bool  # False → the whole photo (no label found, or ROI disabled)


def probe_scale(height: int, width: int, probe_side: int) -> float:
    return min(1.0, probe_side / max(height, width))


def whole_photo_plan(height: int, width: int, det: DetConfig) -> ReadPlan:
    scale = limit_scale(height, width, det.limit_side, det.limit_type, det.max_side)
    return ReadPlan((0, 0, width, height), 0, scale, False)


def plan_reads(
    boxes: DetBoxes, scale: float, height: int, width: int, roi: RoiConfig, det: DetConfig
) -> list[ReadPlan]:
    """Read plans for one photo from the probe's boxes (`scale` = probe px per photo px)."""
    if len(boxes) == 0:
        return [whole_photo_plan(height, width, det)]
    sizes = np.array([quad_size(q) for q in boxes.quads])  # (K, 2): length, height in probe px
    regions = text_regions(boxes.quads, sizes, (round(height * scale), round(width * scale)))
    plans: list[ReadPlan] = []
    best = regions[0][0] if regions else 0.0
    for weight, members in regions[: roi.max_rois]:
        if weight < 0.25 * best:
            break
        q = boxes.quads[members] / scale
        x0, y0 = q[..., 0].min(), q[..., 1].min()
        x1, y1 = q[..., 0].max(), q[..., 1].max()
        if (x1 - x0) * (y1 - y0) < roi.min_label_frac * height * width:
            continue
        pad = roi.pad_frac * max(x1 - x0, y1 - y0)
        box = (
            int(max(0, np.floor(x0 - pad))),
            int(max(0, np.floor(y0 - pad))),
            int(min(width, np.ceil(x1 + pad))),
            int(min(height, np.ceil(y1 + pad))),
        )
        text_px = text_height(sizes[members], boxes.quads[members]) / scale
        plans.append(ReadPlan(box, sideways_turns(boxes.quads[members]), det_scale(box, text_px, det), True))
    return plans or [whole_photo_plan(height, width, det)]


def text_regions(
    quads: np.ndarray, sizes: np.ndarray, shape: tuple[int, int]
) -> list[tuple[float, np.ndarray]]:
    """Clusters of boxes that lie close together, densest first: (total box area, member indices).

    Boxes are painted on a probe-sized mask and dilated by about two line heights, so the lines of one label
    merge while text on the parcel elsewhere stays apart.
    """
    h, w = shape
    mask: np.ndarray = np.zeros((max(h, 1), max(w, 1)), np.uint8)
    for q in quads:
        cv2.fillConvexPoly(mask, np.round(q).astype(np.int32), 255)
    line_h = float(np.median(sizes[:, 1]))
    k = max(3, int(2 * line_h) | 1)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, labels = cv2.connectedComponents(mask)
    centers = np.clip(np.round(quads.mean(axis=1)).astype(int), 0, [w - 1, h - 1])
    member_label = labels[centers[:, 1], centers[:, 0]]
    areas = sizes[:, 0] * sizes[:, 1]
    regions = []
    for lab in range(1, n):
        members = np.flatnonzero(member_label == lab)
        if members.size:
            regions.append((float(areas[members].sum()), members))
    regions.sort(key=lambda r: -r[0])
    return regions


def text_height(sizes: np.ndarray, quads: np.ndarray) -> float:
    """Typical line height (probe px) of a region: a low percentile, because the probe sees the big lines
    better than the small ones and the small ones are the ones that must stay readable."""
    return float(np.percentile(sizes[:, 1], 25))


def sideways_turns(quads: np.ndarray) -> int:
    """3 (turn 90° counter-clockwise) when most text, weighted by length, runs vertically; else 0."""
    d = quads[:, 1] - quads[:, 0]  # reading direction vector of each box
    length = np.hypot(d[:, 0], d[:, 1])
    vertical = np.abs(d[:, 1]) > np.abs(d[:, 0])
    return 3 if length[vertical].sum() > length[~vertical].sum() else 0


def det_scale(box: tuple[int, int, int, int], text_px: float, det: DetConfig) -> float:
    """Scale so the region's text is ≈ target_text_px tall, within det.max_side on the long side."""
    long_side = max(box[2] - box[0], box[3] - box[1], 1)
    scale = det.target_text_px / max(text_px, 1.0)
    scale = min(scale, det.max_side / long_side, 2.0)
    return max(scale, min(1.0, 64 / long_side))
