"""Find and decode the label's barcodes with zxing-cpp: the rectified label crop first, the photo second.

The label's quadrilateral comes from the OCR page: the minimum-area rectangle around every recognised line
(photo pixels), grown by a margin because barcodes sit between and beside the text blocks. Warping that
rectangle upright at a bounded resolution does two things: the decoder sees bars square to the scan lines even
on a tilted, rotated photo, and its cost stays bounded on 12 MP frames. Only when the crop decodes nothing is the
whole photo tried, downscaled, so a label that OCR missed or cropped short still gets a chance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import zxingcpp

from podocr.barcode.payload import BarcodeRead, parse_payload
from podocr.config import BarcodeConfig
from podocr.types import PageResult

FORMATS = ("Code128", "DataMatrix", "PDF417", "QRCode", "ITF", "Code39")
"""Symbologies printed on parcel labels that zxing-cpp finds in a photo. MaxiCode is left out: zxing-cpp reads
it only from a pure, aligned image, so scanning photos for it costs time and finds nothing."""

MIN_LINES = 3
"""With fewer OCR lines the text box says little about where the label is: go straight to the photo."""


@dataclass(slots=True)
class BarcodeScan:
    """Every symbol decoded on one photo, and where the time went."""

    reads: list[BarcodeRead] = field(default_factory=list)
    source: str = ""  # label | photo | "" (nothing decoded)
    seconds: float = 0.0


def _formats() -> zxingcpp.BarcodeFormats:
    return zxingcpp.barcode_formats_from_str(",".join(FORMATS))


def label_rect(page: PageResult, margin: float) -> np.ndarray | None:
    """The label's corners (4×2, photo px, clockwise from the label's top-left) from the OCR lines' quads."""
    pts = [p for line in page.lines for p in line.quad]
    if len(page.lines) < MIN_LINES or len(pts) < 4:
        return None
    arr = np.asarray(pts, dtype=np.float32)
    if not np.isfinite(arr).all():
        return None
    (cx, cy), (w, h), angle = cv2.minAreaRect(arr)
    if w < 2 or h < 2:
        return None
    grow = margin * max(w, h)
    box = cv2.boxPoints(((cx, cy), (w + 2 * grow, h + 2 * grow), angle))
    return _order(box)


def _order(box: np.ndarray) -> np.ndarray:
    """Corners ordered top-left, top-right, bottom-right, bottom-left (image axes)."""
    s = box.sum(axis=1)
    d = np.diff(box, axis=1).ravel()
    return np.array([box[np.argmin(s)], box[np.argmin(d)], box[np.argmax(s)], box[np.argmax(d)]], np.float32)


def rectify(gray: np.ndarray, corners: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The quadrilateral warped upright, its long side at most `long_side` (never upscaled), and the inverse map."""
    w = float(max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[3])))
    h = float(max(np.linalg.norm(corners[3] - corners[0]), np.linalg.norm(corners[2] - corners[1])))
    scale = min(1.0, long_side / max(w, h, 1.0))
    out_w, out_h = max(8, round(w * scale)), max(8, round(h * scale))
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    forward = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    warped = cv2.warpPerspective(
        gray, forward, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )
    return warped, np.linalg.inv(forward)


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _decode(gray: np.ndarray, back: np.ndarray | None) -> list[BarcodeRead]:
    found = zxingcpp.read_barcodes(
        np.ascontiguousarray(gray), formats=_formats(), text_mode=zxingcpp.TextMode.Plain
    )
    reads = []
    for b in found:
        if not b.valid:
            continue
        p = b.position
        corners = np.array(
            [[q.x, q.y] for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)], float
        )
        if back is not None:
            corners = cv2.perspectiveTransform(corners[None].astype(np.float32), back)[0]
        box = (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()),
               float(corners[:, 1].max()))  # fmt: skip
        read = parse_payload(str(b.format).replace(" ", ""), b.text)
        reads.append(BarcodeRead(read.symbology, read.payload, read.numbers, read.zip, box))
    return reads


def scan_photo(image: np.ndarray, page: PageResult | None, cfg: BarcodeConfig) -> BarcodeScan:
    """Decode the label's barcodes: the rectified label crop, then (only if that finds nothing) the photo."""
    t0 = time.perf_counter()
    scan = BarcodeScan()
    if not cfg.enabled or image is None or image.size == 0:
        return scan
    gray = _gray(image)
    corners = label_rect(page, cfg.margin) if page is not None else None
    if corners is not None:
        crop, back = rectify(gray, corners, cfg.label_side)
        scan.reads = _decode(crop, back)
        scan.source = "label" if scan.reads else ""
    if not scan.reads and cfg.photo_side > 0:
        scale = min(1.0, cfg.photo_side / max(gray.shape))
        small = (
            cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        )
        back = np.diag([1 / scale, 1 / scale, 1.0])
        scan.reads = _decode(small, back)
        scan.source = "photo" if scan.reads else ""
    scan.reads = _dedupe(scan.reads)
    scan.seconds = time.perf_counter() - t0
    return scan


def _dedupe(reads: Sequence[BarcodeRead]) -> list[BarcodeRead]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in reads:
        key = (r.symbology, r.payload)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
