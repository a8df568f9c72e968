"""Find the shipping label cheaply and choose the resolution to read it at.

A low-resolution probe (plan.py) runs the text detector. Its boxes are clustered into
text regions and the region with the most lines wins (a label has many small lines; a carton's printed
"KEEP DRY" has a few big words). Because the probe misses the label's smallest lines, and in shadow or blur
whole blocks of it, the region is then grown: onto a clean paper sheet under it, or onto the bright paper
around it (local Otsu, reach-limited), and along the label's long axis to a 4×6 label's proportions. With no
text at all, a clearly rectangular paper sheet is read instead; with neither, the whole photo (`det.limit_*`).
Reading the label at a resolution chosen for its text, not the photo's, is the pipeline's main accuracy lever.

Resolution policy: the detector reads best when label lines are ≈ `det.target_line_px` tall. The probe cannot
measure the small lines (they are 1–3 px there), so their height is estimated from the label's size: on a
4×6 in shipping label the smaller lines are ≈ 1/`det.label_lines` of its long side (a property of the label
layout, not of the photo). The crop is scaled accordingly, within
`det.min_side`…`det.max_side` on the long side and never upscaled more than 2×. The probe's boxes also say
whether the label lies sideways, so the crop is turned upright before detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from podocr.config import DetConfig, RoiConfig
from podocr.ocr.geometry import quad_size, sideways_turns
from podocr.ocr.stages.det import DetBoxes, limit_scale

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels
MIN_LABEL_LINES = 3  # a text cluster with fewer probe lines is more likely carton print than a label
LABEL_ASPECT = 1.5  # 4×6 in shipping labels: long side / short side
SHEET_PER_TEXT = 4.0  # a paper sheet up to this many times the text's box area is the label itself
PAPER_REACH = 0.5  # a text region grows toward its paper by at most this share of its size per side


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How to read one region of a photo: crop box (photo px), quarter turns clockwise, detection scale."""

    box: Box
    quarter_turns: int  # 0 or 3: sideways labels are turned upright; 180° is decided later by line votes
    scale: float  # detection input = crop × scale
    from_roi: bool  # False → the whole photo (no label found, or ROI disabled)


def whole_photo_plan(height: int, width: int, det: DetConfig) -> ReadPlan:
    scale = limit_scale(height, width, det.limit_side, det.limit_type, det.max_side)
    return ReadPlan((0, 0, width, height), 0, scale, False)


def plan_reads(
    probe: np.ndarray, boxes: DetBoxes, scale: float, height: int, width: int, roi: RoiConfig, det: DetConfig
) -> list[ReadPlan]:
    """Read plans for one photo from its probe image and the probe's boxes (`scale` = probe px per photo px)."""
    plans = []
    for region in label_regions(probe, boxes, roi):
        x0, y0, x1, y1 = (v / scale for v in region.box)
        if (x1 - x0) * (y1 - y0) < roi.min_label_frac * height * width:
            continue
        pad = roi.pad_frac * max(x1 - x0, y1 - y0)
        photo_box = (
            int(max(0, np.floor(x0 - pad))),
            int(max(0, np.floor(y0 - pad))),
            int(min(width, np.ceil(x1 + pad))),
            int(min(height, np.ceil(y1 + pad))),
        )
        scale_det = det_scale(photo_box, region.label_side / scale, det)
        plans.append(ReadPlan(photo_box, region.turns, scale_det, True))
    return plans or [whole_photo_plan(height, width, det)]


@dataclass(frozen=True, slots=True)
class LabelRegion:
    """A probable label in probe pixels: crop box, quarter turns, and the label size to scale by."""

    box: Box
    turns: int
    label_side: float


def label_regions(probe: np.ndarray, boxes: DetBoxes, roi: RoiConfig) -> list[LabelRegion]:
    """Probable labels, best first (at most roi.max_rois).

    Candidates are grown text clusters (with the paper they sit on) and clean paper sheets the probe saw no
    text on (a small label in a big photo: its lines are too small for the probe). Order: clusters with at
    least `MIN_LABEL_LINES` lines, then sheets, then the remaining clusters (a few big words of carton print).
    """
    h, w = probe.shape[:2]
    papers = paper_regions(probe, roi.min_label_frac)
    strong: list[LabelRegion] = []
    weak: list[LabelRegion] = []
    if len(boxes):
        clusters = text_clusters(boxes.quads, (h, w))
        heights = np.array([quad_size(q)[1] for q in boxes.quads])
        used: set[int] = set()
        for i in range(len(clusters)):
            if i in used:
                continue
            members = _grow(i, clusters, boxes.quads, heights, used)
            pts = boxes.quads[members].reshape(-1, 2)
            text = bbox(pts)
            paper = _sheet_under(text, papers) or _paper_around(probe, text, pts)
            box = text if paper is None else _union(text, paper)
            turns = sideways_turns(boxes.quads[members])
            shaped = label_shaped(box, boxes.quads[members], turns, (h, w))
            region = LabelRegion(_both_ways(box, shaped, (h, w)), turns, long_side(shaped))
            (strong if len(members) >= MIN_LABEL_LINES else weak).append(region)
    sheets = []
    for area, rect, contour in papers:
        if rect >= 0.8 and area <= 0.75 * h * w:
            box = bbox(contour.reshape(-1, 2))
            sheets.append(LabelRegion(box, 0, long_side(box)))
    out: list[LabelRegion] = []
    for region in strong + sheets + weak:
        if len(out) < roi.max_rois and not any(_overlap(region.box, o.box) > 0.5 for o in out):
            out.append(region)
    return out


def _grow(
    seed: int, clusters: list[np.ndarray], quads: np.ndarray, heights: np.ndarray, used: set[int]
) -> np.ndarray:
    """Absorb nearby clusters with similar line heights: a label's blocks are separated by barcodes and rules
    wider than the clustering kernel, but big carton print nearby has much taller lines and stays out."""
    used.add(seed)
    members = list(clusters[seed])
    line_h = float(np.median(heights[members]))
    grown = True
    while grown:
        grown = False
        box = bbox(quads[members].reshape(-1, 2))
        reach = 0.6 * max(box[2] - box[0], box[3] - box[1])
        for j, other in enumerate(clusters):
            if j in used:
                continue
            ob = bbox(quads[other].reshape(-1, 2))
            ratio = float(np.median(heights[other])) / max(line_h, 1e-6)
            if _gap(box, ob) <= reach and 0.5 <= ratio <= 2.0:
                used.add(j)
                members.extend(other)
                grown = True
    return np.array(members)


def text_clusters(quads: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """Groups of boxes that lie close together, most lines first (member indices).

    Boxes are painted on a probe-sized mask and dilated by about three line heights, so the blocks of one
    label merge while text elsewhere on the parcel stays apart.
    """
    h, w = shape
    mask: np.ndarray = np.zeros((max(h, 1), max(w, 1)), np.uint8)
    for q in quads:
        cv2.fillConvexPoly(mask, np.round(q).astype(np.int32), 255)
    line_h = float(np.median([quad_size(q)[1] for q in quads]))
    k = max(3, int(max(3 * line_h, 0.015 * max(h, w))) | 1)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, labels = cv2.connectedComponents(mask)
    centers = np.clip(np.round(quads.mean(axis=1)).astype(int), 0, [w - 1, h - 1])
    member_label = labels[centers[:, 1], centers[:, 0]]
    clusters = [np.flatnonzero(member_label == lab) for lab in range(1, n)]
    clusters = [c for c in clusters if c.size]
    area = {id(c): float(sum(np.prod(quad_size(quads[i])) for i in c)) for c in clusters}
    clusters.sort(key=lambda c: (-c.size, -area[id(c)]))
    return clusters


def paper_regions(probe: np.ndarray, min_frac: float) -> list[tuple[float, float, np.ndarray]]:
    """Bright, unsaturated blobs (label paper): (area, rectangularity, contour), largest first."""
    hsv = cv2.cvtColor(probe, cv2.COLOR_BGR2HSV)
    s, v = hsv[..., 1], hsv[..., 2]
    bright = 0.55 * float(np.percentile(v, 99))
    mask: np.ndarray = ((s < 60) & (v > bright)).astype(np.uint8) * 255
    k = max(3, round(max(probe.shape[:2]) * 0.02)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    mask = cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel), cv2.MORPH_OPEN, kernel)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        area = float(cv2.contourArea(c))
        if area < min_frac * mask.size:
            continue
        _, (rw, rh), _ = cv2.minAreaRect(c)
        out.append((area, area / max(rw * rh, 1.0), c))
    out.sort(key=lambda t: -t[0])
    return out


def _sheet_under(text: Box, papers: list[tuple[float, float, np.ndarray]]) -> Box | None:
    """A clean rectangular sheet that overlaps the text and is label-sized for it (at most `SHEET_PER_TEXT`
    times the text box's area — a mailer around a label is bigger), taken whole."""
    text_area = max(1, (text[2] - text[0]) * (text[3] - text[1]))
    for area, rect, contour in papers:
        sheet = bbox(contour.reshape(-1, 2))
        iw = max(0, min(text[2], sheet[2]) - max(text[0], sheet[0]))
        ih = max(0, min(text[3], sheet[3]) - max(text[1], sheet[1]))
        if rect >= 0.8 and iw * ih >= 0.3 * text_area and area <= SHEET_PER_TEXT * text_area:
            return sheet
    return None


def _paper_around(probe: np.ndarray, box: Box, pts: np.ndarray) -> Box | None:
    """The text box grown onto the bright paper around it, by at most `PAPER_REACH` of its size per side.

    Local, not global: within a window around the text, the darkest channel (white paper is bright in all
    three, cardboard, wood and grass are not) is split by Otsu, and the bright blob under the text is the
    label. The reach limit keeps a label on a white mailer (whose 'paper' is the whole mailer) label-sized.
    """
    h, w = probe.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    rx, ry = PAPER_REACH * bw, PAPER_REACH * bh
    x0, y0 = int(max(0, box[0] - 1.2 * rx)), int(max(0, box[1] - 1.2 * ry))
    x1, y1 = int(min(w, box[2] + 1.2 * rx)), int(min(h, box[3] + 1.2 * ry))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    dark = np.ascontiguousarray(probe[y0:y1, x0:x1].min(axis=2))
    _, mask = cv2.threshold(dark, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(3, round(0.06 * max(bw, bh))) | 1  # closes text and thin rules, not the gap to the floor
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, labels = cv2.connectedComponents(mask)
    inside = np.clip(np.round(pts - [x0, y0]).astype(int), 0, [x1 - x0 - 1, y1 - y0 - 1])
    votes = np.bincount(labels[inside[:, 1], inside[:, 0]], minlength=n)
    votes[0] = 0
    if votes.max() < 0.5 * len(pts):
        return None
    ys, xs = np.nonzero(labels == int(votes.argmax()))
    return (
        int(max(x0 + xs.min(), box[0] - rx)),
        int(max(y0 + ys.min(), box[1] - ry)),
        int(min(x0 + xs.max() + 1, box[2] + rx)),
        int(min(y0 + ys.max() + 1, box[3] + ry)),
    )


def det_scale(box: Box, label_side: float, det: DetConfig) -> float:
    """Scale putting the label's small lines at ≈ target_line_px (line height ≈ label side / label_lines),
    within [det.min_side, det.max_side] on the crop's long side, never upscaled more than 2×."""
    long_side = max(box[2] - box[0], box[3] - box[1], 1)
    scale = det.target_line_px * det.label_lines / max(label_side, 1.0)
    scale = max(scale, min(1.0, det.min_side / long_side))
    return min(scale, det.max_side / long_side, 2.0)


def bbox(pts: np.ndarray) -> Box:
    return (
        int(np.floor(pts[:, 0].min())),
        int(np.floor(pts[:, 1].min())),
        int(np.ceil(pts[:, 0].max())),
        int(np.ceil(pts[:, 1].max())),
    )


def label_shaped(box: Box, quads: np.ndarray, turns: int, shape: tuple[int, int]) -> Box:
    """Extend a text region along the label's long axis to a 4×6 label's proportions (never shrink it).

    The probe often sees only part of a label — in shadow or blur, the barcode block and the tracking number
    under it stay invisible — but its lines give the label's width and tilt: a 4×6 in label whose lines run
    at angle θ has a bounding box `LABEL_ASPECT`-ish times taller than wide (less when tilted).
    """
    d = quads[:, 1] - quads[:, 0]
    theta = float(np.median(np.abs(np.arctan2(d[:, 1], d[:, 0])) % (np.pi / 2)))
    theta = min(theta, np.pi / 2 - theta) if turns else theta
    c, s = abs(np.cos(theta)), abs(np.sin(theta))
    ratio = (LABEL_ASPECT * c + s) / (c + LABEL_ASPECT * s)  # bbox long / short for a tilted 1:1.5 sheet
    h, w = shape
    x0, y0, x1, y1 = box
    if turns:  # sideways: the long axis is horizontal
        grow = max(0.0, ratio * (y1 - y0) - (x1 - x0)) / 2
        return (int(max(0, x0 - grow)), y0, int(min(w, x1 + grow)), y1)
    grow = max(0.0, ratio * (x1 - x0) - (y1 - y0)) / 2
    return (x0, int(max(0, y0 - grow)), x1, int(min(h, y1 + grow)))


def _both_ways(box: Box, shaped: Box, shape: tuple[int, int]) -> Box:
    """The crop for a label-shaped box: its growth over `box` applied in full on both sides.

    Which end of the label the probe saw is unknown (the 180° decision comes later), and the part it misses is
    usually the barcode block with the tracking number under it, at one end: half the growth on each side cut
    that line off. The label's size (and so the reading resolution) stays that of `shaped`.
    """
    h, w = shape
    return (
        int(max(0, shaped[0] - (box[0] - shaped[0]))),
        int(max(0, shaped[1] - (box[1] - shaped[1]))),
        int(min(w, shaped[2] + (shaped[2] - box[2]))),
        int(min(h, shaped[3] + (shaped[3] - box[3]))),
    )


def long_side(box: Box) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _gap(a: Box, b: Box) -> float:
    """Distance between two boxes (0 when they touch or overlap)."""
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(smaller, 1)
