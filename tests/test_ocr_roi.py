"""Label finding and the resolution policy on hand-made probe images and boxes."""

from __future__ import annotations

import numpy as np
import pytest

from podocr.config import DetConfig, RoiConfig
from podocr.ocr.geometry import rect_to_quad, sideways_turns
from podocr.ocr.stages.det import DetBoxes
from podocr.ocr.stages.roi import det_scale, label_regions, plan_reads, text_clusters

BROWN = (60, 110, 160)  # BGR cardboard


def _boxes(rects: list[tuple[float, float, float, float]], angle: float = 0) -> DetBoxes:
    """DetBoxes from (cx, cy, length, height) rectangles rotated by `angle`."""
    quads = [rect_to_quad((cx, cy), (ln, ht), angle) for cx, cy, ln, ht in rects]
    return DetBoxes(np.stack(quads).astype(np.float32), np.full(len(quads), 0.9, np.float32))


def _label_lines(x0: float, y0: float, n: int = 8) -> list[tuple[float, float, float, float]]:
    return [(x0 + 60, y0 + 12 * i, 110, 7) for i in range(n)]


def _probe(paper: tuple[int, int, int, int] | None = None) -> np.ndarray:
    img = np.empty((480, 640, 3), np.uint8)
    img[:] = BROWN
    if paper is not None:
        x0, y0, x1, y1 = paper
        img[y0:y1, x0:x1] = 245
    return img


def test_many_small_lines_beat_a_few_big_words():
    label = _label_lines(300, 200)
    carton = [(120, 60, 200, 40), (120, 110, 180, 40)]  # "KEEP DRY"-sized print
    boxes = _boxes(carton + label)
    clusters = text_clusters(boxes.quads, (480, 640))
    assert sorted(clusters[0].tolist()) == list(range(2, 10))
    regions = label_regions(_probe((290, 180, 440, 310)), boxes, RoiConfig(max_rois=1))
    assert len(regions) == 1
    x0, y0, x1, y1 = regions[0].box
    assert x0 <= 305 and y0 <= 197 and x1 >= 415 and y1 >= 287 and x1 < 600  # the label, not the print


def test_text_region_grows_onto_its_paper_and_to_label_proportions():
    boxes = _boxes(_label_lines(300, 200, n=5))  # the probe saw the top lines only
    regions = label_regions(_probe((280, 180, 460, 330)), boxes, RoiConfig())
    x0, y0, x1, y1 = regions[0].box
    assert x0 == pytest.approx(280, abs=3) and x1 <= 462  # across: the paper's edges
    assert y0 <= 180 and y1 >= 330  # down over the unseen lines (and at least the paper)
    # the label's size is a 4×6 label's height for that width; which end the probe missed is unknown, so the
    # crop takes the missing height on both sides (the barcode + tracking number are usually at one end)
    assert regions[0].label_side == pytest.approx(1.5 * (x1 - x0), rel=0.05)
    assert (y1 - y0) > 1.5 * (x1 - x0) and y0 < 180 - 0.75 * (1.5 * (x1 - x0) - 150)


def test_blank_sheet_is_read_when_the_probe_sees_no_text():
    regions = label_regions(_probe((100, 120, 300, 400)), DetBoxes.empty(), RoiConfig())
    assert [r.box for r in regions] == [pytest.approx((100, 120, 300, 400), abs=2)]
    assert label_regions(_probe(), DetBoxes.empty(), RoiConfig()) == []


def test_sideways_labels_are_turned():
    assert sideways_turns(_boxes(_label_lines(300, 200)).quads) == 0
    vertical = _boxes([(300 + 12 * i, 240, 110, 7) for i in range(6)], angle=90)
    assert sideways_turns(vertical.quads) == 3
    regions = label_regions(_probe(), vertical, RoiConfig())
    assert regions[0].turns == 3


def test_resolution_policy_targets_small_line_height_within_bounds():
    det = DetConfig(target_line_px=12, label_lines=70, min_side=640, max_side=1600)
    assert det_scale((0, 0, 1680, 1120), 1680, det) == pytest.approx(0.5)  # 840 px label: lines ≈ 12 px
    assert det_scale((0, 0, 300, 200), 300, det) == 2.0  # small label: upscaled, at most 2×
    assert det_scale((0, 0, 4000, 3000), 1000, det) == pytest.approx(0.4)  # capped by max_side
    assert det_scale((0, 0, 1000, 800), 8000, det) == pytest.approx(0.64)  # floored by min_side


def test_plans_fall_back_to_the_whole_photo():
    det = DetConfig(limit_side=960, limit_type="max")
    [plan] = plan_reads(_probe(), DetBoxes.empty(), 0.25, 1920, 2560, RoiConfig(), det)
    assert plan.box == (0, 0, 2560, 1920) and not plan.from_roi and plan.scale == pytest.approx(0.375)
    label = _boxes(_label_lines(300, 200))
    [plan] = plan_reads(_probe((290, 180, 440, 310)), label, 0.25, 1920, 2560, RoiConfig(max_rois=1), det)
    x0, y0, x1, y1 = plan.box
    assert plan.from_roi and 1100 < x0 < 1240 and 250 < y0 < 780 and x1 < 1900 and y1 < 1700


def test_line_text_measures_line_length_and_its_vertical_share():
    from podocr.ocr.stages.plan import line_text, wants_second_look

    upright = _boxes(_label_lines(300, 200))  # 8 lines of 110 px
    assert line_text(upright) == (pytest.approx(880), 0.0)
    assert not wants_second_look(upright, 640)
    glyphs = _boxes([(300 + 12 * i, 240, 9, 8) for i in range(20)])  # glyph-sized pieces are not lines
    assert line_text(glyphs) == (0.0, 0.0) and wants_second_look(glyphs, 640)
    vertical = _boxes([(300 + 12 * i, 240, 110, 7) for i in range(6)], angle=90)
    assert line_text(vertical) == (pytest.approx(660), 1.0) and wants_second_look(vertical, 640)
    assert line_text(DetBoxes.empty()) == (0.0, 0.0)
