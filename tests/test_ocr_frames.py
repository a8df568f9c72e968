"""Frame geometry (photo ↔ detection input ↔ upright frame) and the stage clock, on hand-built regions."""

from __future__ import annotations

import time

import numpy as np
import pytest

from podocr.ocr.clock import StageClock
from podocr.ocr.frames import region_image, to_upright
from podocr.ocr.geometry import apply_affine
from podocr.ocr.region import Region
from podocr.ocr.stages.roi import ReadPlan


@pytest.mark.parametrize("turns", [0, 3])
def test_detection_input_maps_back_onto_the_crop_box(turns):
    photo = np.zeros((900, 1200, 3), np.uint8)
    plan = ReadPlan((100, 200, 740, 680), turns, 0.5, True)
    image, to_photo = region_image(photo, plan, 32)
    h, w = image.shape[:2]
    corners = apply_affine(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), to_photo)
    x0, y0, x1, y1 = plan.box
    assert (w, h) == ((320, 256) if turns == 0 else (256, 320))  # 640×480 × 0.5 in steps of 32, turned
    assert np.allclose(
        sorted(map(tuple, corners)), sorted([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]), atol=1e-3
    )


def test_upright_frame_undoes_a_flip():
    photo = np.zeros((384, 640, 3), np.uint8)  # multiples of 32: the detection input is the photo itself
    plan = ReadPlan((0, 0, 640, 384), 0, 1.0, False)
    image, to_photo = region_image(photo, plan, 32)
    region = Region(0, plan, image, to_photo)
    top_left_box = np.array([[[10, 20], [110, 20], [110, 40], [10, 40]]], np.float32)  # photo px
    assert np.allclose(to_upright(region, top_left_box), top_left_box)
    region.flipped = True  # read upside down: in the upright frame that box sits bottom right
    got = to_upright(region, top_left_box)[0]
    assert got[:, 0].min() == pytest.approx(640 - 110) and got[:, 1].max() == pytest.approx(384 - 20)
    assert region.rotation == 180


def test_stage_clock_shares_a_stage_by_work():
    clock = StageClock(3)
    with clock.stage("det", {0: 1.0, 2: 3.0}):
        time.sleep(0.02)
    with clock.stage("rec", {1: 0.0, 2: 0.0}):  # no measurable work: shared equally
        time.sleep(0.02)
    t = clock.timings
    assert t[1]["det"] == 0 and t[2]["det"] == pytest.approx(3 * t[0]["det"])
    assert t[0]["det"] + t[2]["det"] >= 0.02
    assert t[1]["rec"] == pytest.approx(t[2]["rec"]) and t[0]["rec"] == 0
    assert set(t[0]) == {"roi", "det", "crop", "cls", "rec", "deblur"}
