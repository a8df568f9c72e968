"""One region of one photo on its way through the stages: the record every stage reads and fills in.

A photo yields one region per label the ROI stage plans to read (or one for the whole photo). Stages add to
it in order: detection fills `quads`, cropping `crops`, orientation `flipped` and `quick_reads`; assembly turns
it into lines of a `PageResult`. Public so tests can build one and run a single stage on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from podocr.ocr.stages.roi import ReadPlan


@dataclass
class Region:
    """One region of one photo: its plan, its detection input, and what the stages found in it."""

    page: int  # index of the photo in the batch
    plan: ReadPlan
    image: np.ndarray  # detection input: crop, scaled, turned
    to_photo: np.ndarray  # 2×3 affine: detection-input px → photo px
    quads: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float32))  # photo px
    crops: list[np.ndarray] = field(default_factory=list)
    extra_turns: int = 0  # sideways text the probe missed: the upright frame is the detection input turned
    flipped: bool = False  # the whole region was read upside down → turned 180°
    quick_reads: dict[int, tuple[str, float]] = field(default_factory=dict)  # crop index → its quick read

    @property
    def rotation(self) -> int:
        """Clockwise degrees from the photo to the upright reading frame."""
        return ((self.plan.quarter_turns + self.extra_turns + 2 * self.flipped) % 4) * 90


def first_region(regions: list[Region], page: int) -> Region | None:
    """The page's main region (the best label, or the whole photo): the first one planned for it."""
    return next((r for r in regions if r.page == page), None)
