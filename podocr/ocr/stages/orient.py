"""Orient: decide per region whether it was read upside down, and turn its lines if so.

The line classifier (cls.py) votes on a region's widest lines, weighted by width: the page decision needs a
few long lines, not all of them. A vote that is not clearly "upright" is settled by reading the voting lines
both ways with the quickest recogniser: text the wrong way up reads with clearly lower confidence, and blur or
carton print that fools a 2-class classifier does not fool that. The reads of the way chosen are kept in
`Region.quick_reads`, so recognition does not read those lines a second time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from podocr.config import ClsConfig
from podocr.ocr.geometry import rotate90
from podocr.ocr.region import Region
from podocr.ocr.stages.cls import LineClassifier
from podocr.ocr.stages.rec import TextRecognizer

UPRIGHT_VOTE = -0.5  # the vote of a region with no lines to classify: sure it is upright


Turn = Callable[[Any, int], Any]  # rotate an image k×90° clockwise (numpy here; the device path's tensors)


def orient_regions(
    regions: list[Region],
    classifier: LineClassifier,
    quick: TextRecognizer,
    cfg: ClsConfig,
    turn: Turn = rotate90,
) -> None:
    """Turn regions 180° whose lines vote 'upside down' (confirmed by reading), then, with `cls.flip_lines`,
    flip single classified lines that still look upside down."""
    picks = [widest(r.crops, cfg.page_lines) for r in regions]
    flat = [r.crops[j] for r, idx in zip(regions, picks, strict=True) for j in idx]
    if not flat:
        return
    p180 = classifier.prob_180(flat)
    ends = np.cumsum([len(idx) for idx in picks])
    probs = [p180[end - len(idx) : end] for idx, end in zip(picks, ends, strict=True)]
    votes = []
    for r, idx, p in zip(regions, picks, probs, strict=True):
        weight = np.array([r.crops[j].shape[1] for j in idx], np.float32)
        votes.append(float(((p - 0.5) * weight).sum() / weight.sum()) if len(idx) else UPRIGHT_VOTE)
    flips = confirm_flips(regions, picks, votes, quick, cfg.confirm_below, turn)
    for r, idx, p, flip in zip(regions, picks, probs, flips, strict=True):
        if not len(idx):
            continue
        if flip:
            r.flipped = True
            p = 1.0 - p
            r.quads = r.quads[:, [2, 3, 0, 1]]
            r.crops = [turn(c, 2) for c in r.crops]
        for j in idx[p > cfg.thresh] if cfg.flip_lines else ():
            r.quads[j] = r.quads[j][[2, 3, 0, 1]]
            r.crops[j] = turn(r.crops[j], 2)
            r.quick_reads.pop(int(j), None)


def confirm_flips(
    regions: list[Region],
    picks: list[np.ndarray],
    votes: list[float],
    quick: TextRecognizer,
    confirm_below: float,
    turn: Turn = rotate90,
) -> list[bool]:
    """Upside down or not, per region. A vote not at least `confirm_below` sure of "upright" (every flip, and
    weak keeps) is settled by reading the voting lines both ways; the reads of the way chosen are kept."""
    flips = [v > 0 for v in votes]
    check = [k for k, v in enumerate(votes) if v > -confirm_below and len(picks[k])]
    if not check:
        return flips
    crops = [regions[k].crops[j] for k in check for j in picks[k]]
    reads = quick.recognize(crops + [turn(c, 2) for c in crops])
    n, start = len(crops), 0
    for k in check:
        m = len(picks[k])
        as_is = np.array([c for _, c in reads[start : start + m]], np.float32)
        turned = np.array([c for _, c in reads[n + start : n + start + m]], np.float32)
        flips[k] = float((turned - as_is).sum()) > 0
        chosen = reads[n + start : n + start + m] if flips[k] else reads[start : start + m]
        regions[k].quick_reads = {int(j): res for j, res in zip(picks[k], chosen, strict=True)}
        start += m
    return flips


def widest(crops: list[np.ndarray], n: int) -> np.ndarray:
    """Indices of the n crops with the most text (aspect ratio), all of them when n ≤ 0."""
    aspect = np.array([c.shape[1] / max(c.shape[0], 1) for c in crops])
    order = np.argsort(-aspect, kind="stable")
    return order if n <= 0 else order[:n]
