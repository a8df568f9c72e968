"""Synthetic proof-of-delivery photos with exact ground truth (issue #2).

    generate(out, n, seed, date=None, workers=1) -> SynthSummary   # a batch folder / s3 prefix
    render_photo(seed, index) -> (BGR uint8 image, record)          # one photo in memory
    load_labels(dir) -> list[record]                                # read a batch's labels.jsonl

The record format (labels.jsonl) and the distributions are documented in docs/synth.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from podocr.synth.fonts import FONT_APT_PACKAGES, FontsMissingError
from podocr.synth.scene import DEFAULT_DISTRIBUTION, Distribution, Scene, photo_id, sample_scene
from podocr.synth.writer import MANIFEST_COLUMNS, SynthSummary, generate, load_labels, manifest_rows

__all__ = [
    "DEFAULT_DISTRIBUTION",
    "FONT_APT_PACKAGES",
    "MANIFEST_COLUMNS",
    "Distribution",
    "FontsMissingError",
    "Scene",
    "SynthSummary",
    "generate",
    "load_labels",
    "manifest_rows",
    "photo_id",
    "render_photo",
    "sample_scene",
]


def render_photo(seed: int, index: int, *, max_side: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Photo `index` of batch `seed`: the BGR pixels its JPEG decodes to, and its labels.jsonl record."""
    from podocr.synth.render import render

    dist = DEFAULT_DISTRIBUTION if max_side is None else replace(DEFAULT_DISTRIBUTION, max_side=max_side)
    photo = render(sample_scene(seed, index, dist))
    return photo.image, photo.record
