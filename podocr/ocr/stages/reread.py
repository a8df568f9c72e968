"""The blur re-read: when to read a label again from a deconvolved crop (deblur.py), and which read wins.

Sharp photos never pay for it: only a label crop that read little confident text and whose detection input
is blurry is read again. The page keeps the read with more confident characters, and its stage times include
both reads, with the deconvolution itself under its own key ("deblur").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from podocr.config import DetConfig
from podocr.ocr.clock import STAGES
from podocr.ocr.region import Region
from podocr.ocr.stages.deblur import deblur, sharpness
from podocr.types import PageResult

CONFIDENT = 0.8  # a line read at least this sure counts as read when judging a page


def wants_reread(page: PageResult, main: Region, det: DetConfig) -> bool:
    """A label crop (not a whole photo: its line height is unknown) that read at most `det.deblur_max_lines`
    confident lines and whose detection input is blurrier than `det.deblur_below`."""
    return may_reread(page, main, det) and sharpness(main.image) < det.deblur_below


def may_reread(page: PageResult, main: Region, det: DetConfig) -> bool:
    """`wants_reread` without the sharpness measure: the cheap half, so a caller holding the label crop elsewhere
    (the device read path) fetches it only when it matters."""
    if det.deblur_max_lines <= 0 or det.deblur_below <= 0 or not main.plan.from_roi:
        return False
    return sum(line.confidence >= CONFIDENT for line in page.lines) <= det.deblur_max_lines


def reread_blurred(
    photo: np.ndarray,
    page: PageResult,
    main: Region,
    det: DetConfig,
    read: Callable[[np.ndarray], PageResult],
) -> PageResult:
    """Read the photo again (`read`) with its label crop deconvolved; the read with more confident text wins.
    The blur undone is `det.deblur_sigma` of the label's small-line height, which the ROI stage estimated for
    the reading resolution."""
    sigma = det.deblur_sigma * det.target_line_px / main.plan.scale
    x0, y0, x1, y1 = main.plan.box
    pad = int(np.ceil(3 * sigma))
    h, w = photo.shape[:2]
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    t0 = time.perf_counter()
    sharpened = photo.copy()
    sharpened[y0:y1, x0:x1] = deblur(photo[y0:y1, x0:x1], sigma)
    deblur_s = time.perf_counter() - t0
    again = read(sharpened)
    timings = {k: page.timings.get(k, 0.0) + again.timings.get(k, 0.0) for k in STAGES}
    timings["deblur"] += deblur_s
    best = again if confident_chars(again) > confident_chars(page) else page
    return dataclasses.replace(best, timings=timings)


def confident_chars(page: PageResult) -> int:
    """Characters in the page's confidently read lines: the measure of which read is better."""
    return sum(len(line.text.strip()) for line in page.lines if line.confidence >= CONFIDENT)
