"""Stage clocks: each stage runs once over a whole batch, so its time is shared out to the photos in it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from podocr.ocr.region import Region

# The model stages, then the blur re-read's deconvolution (the re-read's model stages add to their own keys).
# "deblur" is kept apart from "roi" so the ROI stage's time means finding the label, nothing else.
STAGES = ("roi", "det", "crop", "cls", "rec", "deblur")


class StageClock:
    """Per-photo share of each stage's batch time, split by a work measure (pixels, lines)."""

    def __init__(self, n: int) -> None:
        self.timings: list[dict[str, float]] = [dict.fromkeys(STAGES, 0.0) for _ in range(n)]

    @contextmanager
    def stage(self, name: str, work: dict[int, float]) -> Iterator[None]:
        """Time the block and add it to `name`, shared by `work` (photo index → amount; equal if all 0)."""
        t0 = time.perf_counter()
        yield
        elapsed = time.perf_counter() - t0
        total = sum(work.values())
        for page, w in work.items():
            self.timings[page][name] += elapsed * (w / total if total > 0 else 1.0 / len(work))


def per_page(regions: list[Region], measure: Callable[[Region], float]) -> dict[int, float]:
    """Work per photo: `measure` summed over each photo's regions."""
    work: dict[int, float] = {}
    for r in regions:
        work[r.page] = work.get(r.page, 0.0) + measure(r)
    return work


# Work measures: what each stage's time is shared by.
def pixels(r: Region) -> float:
    return float(r.image.shape[0] * r.image.shape[1])


def lines(r: Region) -> float:
    return float(len(r.quads))


def text_width(r: Region) -> float:
    """Line lengths in line heights: what recognition cost grows with."""
    return float(sum(c.shape[1] / max(c.shape[0], 1) for c in r.crops))
