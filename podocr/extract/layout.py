"""Label geometry from OCR quads: one reading frame for the page, line boxes in it, and text rows.

OCR returns each printed line as one or more pieces with a quad in photo pixels. Labels are often photographed
rotated, so every position here is measured in the label's own frame: `u` runs along the dominant reading
direction, `v` runs "down" the label. Rows join pieces that sit side by side on one printed line, ordered
left→right, which is what tracking numbers split by the recogniser and "CITY ST ZIP" lines need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from podocr.types import TextLine

MAX_LINES = 400
"""Lines beyond this (in reading order) are ignored: a label has < 100; this bounds the O(n²) row grouping."""

MAX_TEXT_CHARS = 200
"""Longer recognised strings are truncated: no label field is longer, and regexes stay fast on junk."""

ROW_ALIGN_FRAC = 0.5
"""Two pieces share a row when their centres differ by less than this share of the smaller height."""

ROW_HEIGHT_RATIO = 1.7
"""… and their heights differ by less than this factor (a big name never joins small service text)."""

FALLBACK_HEIGHT = 10.0
"""Height (px) given to a line whose quad is unusable, so such lines still order by their index."""


@dataclass(slots=True)
class Box:
    """One OCR line placed in the label frame."""

    index: int  # position in the page's line list (reading order from the pipeline)
    text: str
    confidence: float
    x0: float  # extent along the reading direction
    x1: float
    yc: float  # centre across it ("down" the label)
    height: float


@dataclass(slots=True)
class Row:
    """Pieces on one printed line, left → right (geometry cached: rows are read many times)."""

    boxes: list[Box]
    text: str = ""
    x0: float = 0.0
    x1: float = 0.0
    yc: float = 0.0
    height: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    confidence: float = 0.0

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        boxes = self.boxes
        if len(boxes) == 1:
            b = boxes[0]
            self.text, self.x0, self.x1, self.yc, self.height = b.text, b.x0, b.x1, b.yc, b.height
            self.top, self.bottom, self.confidence = b.yc - b.height / 2, b.yc + b.height / 2, b.confidence
            return
        self.text = " ".join(b.text for b in boxes)
        self.x0 = min(b.x0 for b in boxes)
        self.x1 = max(b.x1 for b in boxes)
        self.yc = sum(b.yc for b in boxes) / len(boxes)
        self.height = max(b.height for b in boxes)
        self.top = min(b.yc - b.height / 2 for b in boxes)
        self.bottom = max(b.yc + b.height / 2 for b in boxes)
        self.confidence = min(b.confidence for b in boxes)


def _finite(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _quad_points(quad: object) -> list[tuple[float, float]] | None:
    """The 4 corners as floats, or None when the quad is malformed (wrong shape, NaN, text)."""
    try:
        pts = [(_finite(p[0]), _finite(p[1])) for p in quad]  # type: ignore[attr-defined]
    except (TypeError, IndexError, KeyError):
        return None
    if len(pts) != 4:
        return None
    clean = [(x, y) for x, y in pts if x is not None and y is not None]
    return clean if len(clean) == 4 else None


def _direction(quads: Sequence[list[tuple[float, float]] | None]) -> tuple[float, float]:
    edges = [(q[1][0] - q[0][0], q[1][1] - q[0][1]) for q in quads if q is not None]
    sx = sy = 0.0
    for dx, dy in edges:
        # Double the angle so opposite directions (a few upside-down pieces) reinforce rather than cancel.
        length = math.hypot(dx, dy)
        if length > 0:
            angle = 2 * math.atan2(dy, dx)
            sx += length * math.cos(angle)
            sy += length * math.sin(angle)
    if sx == 0 and sy == 0:
        return (1.0, 0.0)
    angle = math.atan2(sy, sx) / 2
    # Resolve the 180° ambiguity with the majority of top edges.
    if sum(dx * math.cos(angle) + dy * math.sin(angle) for dx, dy in edges) < 0:
        angle += math.pi
    return (math.cos(angle), math.sin(angle))


def clean_text(text: object) -> str:
    """Recognised text as a bounded, single-line, upper-case string (the extractors all work upper-case)."""
    if not isinstance(text, str):
        return ""
    return " ".join(text[:MAX_TEXT_CHARS].upper().split())


def to_boxes(lines: Sequence[TextLine]) -> list[Box]:
    """Every non-empty line as a Box in the label frame; malformed quads fall back to reading order."""
    lines = lines[:MAX_LINES]
    quads = [_quad_points(getattr(line, "quad", None)) for line in lines]
    ux, uy = _direction(quads)
    vx, vy = -uy, ux  # "down" the label: the reading direction turned +90° in image coordinates (y down)
    boxes: list[Box] = []
    for i, (line, pts) in enumerate(zip(lines, quads, strict=True)):
        text = clean_text(getattr(line, "text", ""))
        if not text:
            continue
        conf = _finite(getattr(line, "confidence", 0.0))
        conf = min(max(conf, 0.0), 1.0) if conf is not None else 0.0
        if pts is None:
            y = i * FALLBACK_HEIGHT * 2
            boxes.append(Box(i, text, conf, 0.0, FALLBACK_HEIGHT * len(text) / 2, y, FALLBACK_HEIGHT))
            continue
        us = [x * ux + y * uy for x, y in pts]
        vs = [x * vx + y * vy for x, y in pts]
        height = (math.dist(pts[0], pts[3]) + math.dist(pts[1], pts[2])) / 2
        if not height > 0:
            height = max(max(vs) - min(vs), 1.0)
        boxes.append(Box(i, text, conf, min(us), max(us), sum(vs) / 4, height))
    return boxes


def group_rows(boxes: Sequence[Box], max_gap: float) -> list[Row]:
    """Join side-by-side pieces into rows; `max_gap` is the largest horizontal gap in line heights.

    Rows come back top → bottom; pieces inside a row left → right.
    """
    rows: list[Row] = []
    for box in sorted(boxes, key=lambda b: (b.yc, b.x0)):
        best: Row | None = None
        best_gap = math.inf
        for row in rows[-12:]:  # rows are created top → bottom, so candidates are among the last few
            h = min(box.height, row.height)
            if abs(box.yc - row.yc) > ROW_ALIGN_FRAC * h:
                continue
            if max(box.height, row.height) > ROW_HEIGHT_RATIO * h:
                continue
            gap = _gap_to_row(box, row)
            if gap is None or gap > max_gap * h:
                continue
            if gap < best_gap:
                best, best_gap = row, gap
        if best is None:
            rows.append(Row([box]))
        else:
            best.boxes.append(box)
            best.boxes.sort(key=lambda b: b.x0)
            best.refresh()
    rows.sort(key=lambda r: (r.yc, r.x0))
    return rows


def _gap_to_row(box: Box, row: Row) -> float | None:
    """Horizontal gap between `box` and the nearest piece of `row`; None when they overlap (stacked text)."""
    gap = math.inf
    for other in row.boxes:
        overlap = min(box.x1, other.x1) - max(box.x0, other.x0)
        if overlap > 0.3 * min(box.x1 - box.x0, other.x1 - other.x0):
            return None
        gap = min(gap, max(other.x0 - box.x1, box.x0 - other.x1, 0.0))
    return gap


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
