"""Assemble: one PageResult per photo from its regions' reads, lines in reading order of the upright label."""

from __future__ import annotations

import numpy as np

from podocr.ocr.frames import to_upright
from podocr.ocr.geometry import reading_order
from podocr.ocr.region import Region
from podocr.types import PageResult, TextLine


def assemble_pages(
    photos: list[np.ndarray],
    regions: list[Region],
    texts: list[list[tuple[str, float]]],
    drop_score: float,
    timings: list[dict[str, float]],
) -> list[PageResult]:
    """Lines below `drop_score` or blank are left out (kept apart in `PageResult.rejected`, for eval); the page's
    rotation is its main region's; its ROI is the union of the label boxes read (None when the whole photo was
    read)."""
    pages: list[list[tuple[Region, list[tuple[str, float]]]]] = [[] for _ in photos]
    for r, res in zip(regions, texts, strict=True):
        pages[r.page].append((r, res))
    results = []
    for i, (photo, page_regions) in enumerate(zip(photos, pages, strict=True)):
        lines: list[TextLine] = []
        rejected: list[TextLine] = []
        for r, res in page_regions:
            keep: list[int] = []
            for j, (t, c) in enumerate(res):
                if t.strip() and c >= drop_score:
                    keep.append(j)
                else:
                    rejected.append(_line(r, j, res[j]))
            if not keep:
                continue
            upright = to_upright(r, r.quads[keep])
            lines += [_line(r, keep[k], res[keep[k]]) for k in reading_order(upright)]
        main = page_regions[0][0] if page_regions else None
        rois = [r.plan.box for r, _ in page_regions if r.plan.from_roi]
        results.append(
            PageResult(
                lines=lines,
                width=photo.shape[1],
                height=photo.shape[0],
                timings=timings[i],
                rotation=0 if main is None else main.rotation,
                roi=union(rois),
                rejected=rejected,
            )
        )
    return results


def _line(region: Region, j: int, read: tuple[str, float]) -> TextLine:
    quad = [(float(x), float(y)) for x, y in region.quads[j]]
    return TextLine(text=read[0], confidence=read[1], quad=quad)


def union(boxes: list[tuple[int, int, int, int]]) -> list[int] | None:
    """The bounding box of all boxes, None for none."""
    if not boxes:
        return None
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]
