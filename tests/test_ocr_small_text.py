"""Small print: the zoomed second detection pass (stages/zoom.py) and crops cut at the recogniser's height."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from podocr.config import DetConfig, PodocrConfig
from podocr.ocr.build import build_components
from podocr.ocr.frames import region_image
from podocr.ocr.geometry import quad_size
from podocr.ocr.region import Region
from podocr.ocr.stages.crop import crop_quad
from podocr.ocr.stages.det import det_step
from podocr.ocr.stages.rec import CascadeRecognizer, resize_to_height, upscale_filter
from podocr.ocr.stages.roi import ReadPlan
from podocr.ocr.stages.zoom import adopt_zoomed, zoom_plan, zoomed_regions

PHOTO = (1200, 1000)  # h, w
DET = DetConfig(zoom_gain=1.4)


def lines(n: int, x0: float = 300, y0: float = 300, width: float = 300, height: float = 10) -> np.ndarray:
    """`n` upright line quads, one under the other (TL, TR, BR, BL), photo px."""
    ys = y0 + 2.5 * height * np.arange(n)
    return np.array(
        [[(x0, y), (x0 + width, y), (x0 + width, y + height), (x0, y + height)] for y in ys], np.float32
    )


def region(quads: np.ndarray, scale: float, from_roi: bool = True) -> Region:
    plan = ReadPlan((0, 0, PHOTO[1], PHOTO[0]), 0, scale, from_roi)
    r = Region(0, plan, np.zeros((1, 1, 3), np.uint8), np.eye(2, 3))
    r.quads = quads
    return r


def test_a_label_read_too_coarsely_is_planned_again_finer() -> None:
    # 12 lines over a 300 × 285 px block: the label's long side is about 430 px after 4×6 shaping, so its
    # small lines want a scale of about target_line_px * label_lines / 430 ≈ 1.9; the probe's plan gave 0.4
    plan = zoom_plan(region(lines(12), 0.4), PHOTO, DET)
    assert plan is not None
    assert plan.box == (0, 0, PHOTO[1], PHOTO[0]) and plan.from_roi
    # capped by det.max_side on the crop's long side
    assert plan.scale == pytest.approx(DET.max_side / PHOTO[0])


@pytest.mark.parametrize(
    ("quads", "scale", "from_roi", "cfg"),
    [
        (lines(12), 1.2, True, DET),  # the first scale was about right
        (lines(12), 0.4, False, DET),  # the whole photo was read: no label to size
        (lines(2), 0.4, True, DET),  # too few lines to judge
        (lines(12), 0.4, True, DetConfig(zoom_gain=0.0)),  # off
    ],
)
def test_no_zoom(quads: np.ndarray, scale: float, from_roi: bool, cfg: DetConfig) -> None:
    assert zoom_plan(region(quads, scale, from_roi), PHOTO, cfg) is None


def test_carton_print_does_not_set_the_label_size() -> None:
    """Words far taller than the label's lines (carton print inside the crop) are left out of its size."""
    carton = lines(2, x0=0, y0=0, width=900, height=120)
    plan = zoom_plan(region(np.concatenate([lines(12), carton]), 0.4), PHOTO, DET)
    assert plan is not None and plan.scale > 1.0


def test_adopt_only_a_zoom_that_finds_at_least_as_much() -> None:
    photo = np.full((*PHOTO, 3), 255, np.uint8)
    first = [region(lines(12), 0.4), region(lines(12), 0.4)]
    zoomed = zoomed_regions([photo], first, DET)
    assert set(zoomed) == {0, 1}
    assert zoomed[0].image.shape[0] == round(PHOTO[0] * zoomed[0].plan.scale / det_step(DET)) * det_step(DET)
    zoomed[0].quads = lines(14)  # found more: adopted
    zoomed[1].quads = lines(5)  # found less: the first pass stays
    kept = first[1]
    assert adopt_zoomed(first, zoomed) == 1
    assert first[0] is zoomed[0] and len(first[0].quads) == 14
    assert first[1] is kept and len(first[1].quads) == 12


def test_zoomed_region_maps_back_to_photo_pixels() -> None:
    photo = np.zeros((*PHOTO, 3), np.uint8)
    plan = ReadPlan((100, 200, 700, 1000), 0, 1.5, True)
    image, to_photo = region_image(photo, plan, det_step(DET))
    corner = to_photo @ np.array([image.shape[1], image.shape[0], 1.0])
    assert corner == pytest.approx([700, 1000], abs=0.5)


# ---- crops at the recogniser's height ---------------------------------------------------------------------------
def test_small_line_is_cut_straight_at_the_model_height() -> None:
    img = np.full((100, 300, 3), 255, np.uint8)
    img[40:52, 20:220] = 0  # a 200 × 12 px dark bar
    quad = np.array([[20, 40], [220, 40], [220, 52], [20, 52]], np.float32)
    native = crop_quad(img, quad)
    big = crop_quad(img, quad, min_height=48, interp=cv2.INTER_CUBIC)
    assert native.shape[:2] == (12, 200) and big.shape[:2] == (48, 800)
    assert big[4:44, 4:796].max() < 10  # the bar fills it
    # the recogniser's resize leaves a crop already at its height alone
    assert resize_to_height(big, 48, 1600) is big
    # a line taller than the model height is cut at its own size
    tall = np.array([[20, 10], [220, 10], [220, 70], [20, 70]], np.float32)
    assert crop_quad(img, tall, min_height=48).shape[:2] == (60, 200)
    assert quad_size(quad) == (200.0, 12.0)


def test_upscale_filter_names() -> None:
    assert upscale_filter("cubic") == cv2.INTER_CUBIC
    with pytest.raises(ValueError, match=r"rec\.upscale"):
        upscale_filter("bilinear")


# ---- small print re-read by the strong recogniser -----------------------------------------------------------------
@pytest.fixture(scope="module")
def cascade() -> CascadeRecognizer:
    cfg = PodocrConfig.load(
        overrides={
            "rec.small_px": "32",
            "rec.recheck_small_below": "1.01",
            "rec.recheck_below": "0.9",
            "rec.small_strong": "true",
        }
    )
    rec = build_components(cfg, 1).recognizer
    assert isinstance(rec, CascadeRecognizer)
    return rec


@pytest.mark.parametrize(
    ("conf", "height", "rechecked"),
    [(0.95, 20.0, True), (0.999, 31.9, True), (0.95, 32.0, False), (0.95, 60.0, False), (0.5, 60.0, True)],
)
def test_small_lines_are_rechecked_below_their_own_threshold(
    cascade: CascadeRecognizer, conf: float, height: float, rechecked: bool
) -> None:
    assert cascade.recheck("SHIP DATE", conf, height) is rechecked


def test_small_print_takes_the_strong_read(cascade: CascadeRecognizer) -> None:
    """With `rec.small_strong`, a small line's output is the strong recogniser's read; a large line keeps the
    fast read when that is confident."""
    small = np.full((22, 170, 3), 255, np.uint8)
    cv2.putText(small, "SHIP DATE 24AUG25", (3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    large = np.full((60, 420, 3), 255, np.uint8)
    cv2.putText(large, "UPS GROUND", (8, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3, cv2.LINE_AA)
    got = cascade.recognize([small, large])
    assert got[0] == cascade.strong.recognize([small])[0]
    fast = cascade.fast.recognize([large])[0]
    if fast[1] >= cascade.recheck_below and sum(ch.isdigit() for ch in fast[0]) < cascade.recheck_digits:
        assert got[1] == fast
    assert got[1][0].replace(" ", "") == "UPSGROUND"
