"""Framework-free OCR pieces on hand-made inputs: DB boxes, CTC decoding, bucketing, quad geometry."""

from __future__ import annotations

import cv2
import numpy as np
import pyclipper
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podocr.config import DetConfig
from podocr.ocr.batching import bucket_batches, round_up
from podocr.ocr.geometry import (
    apply_affine,
    compose,
    quad_size,
    reading_order,
    rect_to_quad,
    rotate90,
    rotate90_affine,
)
from podocr.ocr.stages.crop import crop_quad
from podocr.ocr.stages.det import NORMS, db_boxes, limit_scale, normalise, padded_shape
from podocr.ocr.stages.rec import ctc_greedy_decode, resize_to_height


# ---- DB post-processing ------------------------------------------------------------------------------------
def _prob_map(
    shape: tuple[int, int], rects: list[tuple[int, int, int, int]], value: float = 0.9
) -> np.ndarray:
    prob = np.zeros(shape, np.float32)
    for x0, y0, x1, y1 in rects:
        prob[y0:y1, x0:x1] = value
    return prob


def test_db_boxes_put_rectangles_back_where_they_are_grown_by_the_unclip_distance():
    cfg = DetConfig(dilate=False, unclip_ratio=1.5)
    rects = [(40, 30, 240, 42), (60, 100, 160, 116)]  # half-open pixel ranges: 200×12 and 100×16
    boxes = db_boxes(_prob_map((200, 300), rects), cfg)
    assert len(boxes) == 2
    order = np.argsort(boxes.quads[:, 0, 1])
    for (x0, y0, x1, y1), quad in zip(rects, boxes.quads[order], strict=True):
        w, h = x1 - x0, y1 - y0
        d = w * h * 1.5 / (2 * (w + h))
        np.testing.assert_allclose(quad[0], [x0 - d, y0 - d], atol=0.6)  # TL
        np.testing.assert_allclose(quad[2], [x1 + d, y1 + d], atol=0.6)  # BR
        assert quad_size(quad)[0] > quad_size(quad)[1]  # reads along the long side
    np.testing.assert_allclose(boxes.scores, 0.9, atol=1e-5)


def test_closed_form_unclip_matches_pyclipper_polygon_offset():
    w, h, ratio = 180.0, 14.0, 1.6
    rect = [(0, 0), (w, 0), (w, h), (0, h)]
    d = w * h * ratio / (2 * (w + h))
    off = pyclipper.PyclipperOffset()
    off.AddPath(
        [(round(x * 100), round(y * 100)) for x, y in rect], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON
    )
    grown = np.array(off.Execute(d * 100)[0], np.float32) / 100
    (_, _), (gw, gh), _ = cv2.minAreaRect(grown)
    assert sorted([gw, gh]) == pytest.approx(sorted([w + 2 * d, h + 2 * d]), abs=0.05)


def test_db_boxes_drop_weak_and_tiny_regions():
    cfg = DetConfig(dilate=False, box_thresh=0.6, min_box_side=3)
    prob = _prob_map((100, 200), [(10, 10, 100, 20)], value=0.5)  # above thresh, below box_thresh
    prob[60:62, 20:120] = 0.95  # 2 px tall: below min_box_side
    assert len(db_boxes(prob, cfg)) == 0
    assert len(db_boxes(np.zeros((64, 64), np.float32), cfg)) == 0


def test_db_boxes_of_a_rotated_bar_follow_its_angle():
    prob = np.zeros((300, 300), np.float32)
    pts = cv2.boxPoints(((150, 150), (200, 16), 30)).astype(np.int32)
    cv2.fillPoly(prob, [pts], 0.9)
    boxes = db_boxes(prob, DetConfig(dilate=False))
    assert len(boxes) == 1
    q = boxes.quads[0]
    angle = np.degrees(np.arctan2(q[1, 1] - q[0, 1], q[1, 0] - q[0, 0]))
    assert angle == pytest.approx(30, abs=1.5)
    np.testing.assert_allclose(q.mean(axis=0), [150.5, 150.5], atol=1.0)


def test_limit_scale_rules():
    assert limit_scale(3000, 4000, 960, "max", 1600) == pytest.approx(0.24)
    assert limit_scale(300, 400, 960, "max", 1600) == 1.0
    assert limit_scale(300, 400, 736, "min", 4000) == pytest.approx(736 / 300)
    assert limit_scale(300, 4000, 736, "min", 1600) == pytest.approx(0.4)  # the cap wins
    with pytest.raises(ValueError, match="limit_type"):
        limit_scale(10, 10, 10, "mean", 10)
    assert padded_shape(100, 641, 64) == (128, 704)
    assert padded_shape(10, 10, 16) == (32, 32)  # never below the model stride


# ---- CTC ----------------------------------------------------------------------------------------------------
def _one_hot(seq: list[int], n_classes: int, p: float = 0.9) -> np.ndarray:
    out = np.full((len(seq), n_classes), (1 - p) / (n_classes - 1), np.float32)
    out[np.arange(len(seq)), seq] = p
    return out


def test_ctc_collapses_repeats_and_drops_blanks():
    charset = ["", "A", "B", "L", "O", " "]
    # "BALLOON": L,L must be separated by a blank to survive; O,O likewise
    seq = [2, 2, 0, 1, 3, 3, 0, 3, 4, 0, 0, 4, 5, 1]
    probs = _one_hot(seq, len(charset))[None]
    [(text, conf)] = ctc_greedy_decode(probs, charset)
    assert text == "BALLOO A"
    assert conf == pytest.approx(0.9)


def test_ctc_empty_row_and_batch_rows_are_independent():
    charset = ["", "1", "2"]
    probs = np.stack([_one_hot([0, 0, 0], 3), _one_hot([1, 0, 1], 3, p=0.6)])
    assert ctc_greedy_decode(probs, charset) == [("", 0.0), ("11", pytest.approx(0.6))]
    with pytest.raises(ValueError):
        ctc_greedy_decode(np.zeros((3, 4)), charset)


# ---- bucketing ----------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([80, 160, 240, 320]), max_size=60), st.integers(1, 9))
def test_bucket_batches_return_every_index_once_in_order(keys, batch_size):
    batches = bucket_batches(keys, batch_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(keys)))
    for b in batches:
        assert 1 <= len(b) <= batch_size
        assert len({keys[i] for i in b}) == 1
        assert b == sorted(b)


def test_round_up_and_bad_batch_size():
    assert [round_up(v, 80) for v in (0, 1, 80, 81, 160)] == [80, 80, 80, 160, 160]
    with pytest.raises(ValueError):
        bucket_batches([1], 0)


# ---- geometry -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("angle", [0, 15, -20, 89.5, 90, 135, 180, 270])
def test_rect_to_quad_orders_corners_along_the_reading_direction(angle):
    quad = rect_to_quad((100, 100), (120, 20), angle)
    length, height = quad_size(quad)
    assert length == pytest.approx(120, abs=1e-3) and height == pytest.approx(20, abs=1e-3)
    d = quad[1] - quad[0]
    if abs(d[0]) >= 0.5 * np.hypot(*d):
        assert d[0] > 0  # near-horizontal lines read left → right
    else:
        assert d[1] > 0  # near-vertical lines read top → bottom
    cross = d[0] * (quad[3] - quad[0])[1] - d[1] * (quad[3] - quad[0])[0]
    assert cross > 0  # TL, TR, BR, BL go clockwise in image coordinates


def test_square_glyph_box_stays_upright():
    quad = rect_to_quad((50, 50), (12, 16), 0)  # a single tall-ish character: not turned sideways
    assert quad[1, 0] > quad[0, 0] and quad[1, 1] == pytest.approx(quad[0, 1])


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_rotate90_affine_maps_rotated_pixels_back(k):
    img = np.zeros((40, 70), np.uint8)
    img[5:9, 50:60] = 255  # a mark at x 50..60, y 5..9
    rot = rotate90(img, k)
    ys, xs = np.nonzero(rot)
    corners = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.max() + 1]], np.float32)
    back = apply_affine(corners, rotate90_affine(k, 70, 40))
    assert sorted(back[:, 0]) == pytest.approx([50, 60]) and sorted(back[:, 1]) == pytest.approx([5, 9])


def test_compose_applies_inner_first():
    scale = np.array([[2, 0, 0], [0, 2, 0]], np.float64)
    shift = np.array([[1, 0, 10], [0, 1, 20]], np.float64)
    assert apply_affine(np.array([[1.0, 1.0]]), compose(shift, scale)).tolist() == [[12.0, 22.0]]


def test_reading_order_rows_then_columns():
    def box(x, y, w=50, h=10):
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]

    quads = np.array([box(200, 52), box(10, 50), box(10, 10), box(120, 12), box(10, 90)], np.float32)
    assert reading_order(quads) == [2, 3, 1, 0, 4]
    assert reading_order(np.zeros((0, 4, 2), np.float32)) == []


def test_crop_quad_reads_a_rotated_quad_upright():
    img = np.full((200, 200, 3), 255, np.uint8)
    img[50:60, 20:120] = 0  # a black bar, upright
    quad = np.array([[120, 60], [20, 60], [20, 50], [120, 50]], np.float32)  # same bar, read upside down
    crop = crop_quad(img, quad)
    assert crop.shape[:2] == (10, 100) and crop.mean() < 10
    small = resize_to_height(np.zeros((96, 4000, 3), np.uint8), 48, 1600)
    assert small.shape[:2] == (48, 1600)


@pytest.mark.parametrize("norm", sorted(NORMS))
def test_detector_normalisation_is_the_model_familys_mean_and_std_written_in_place(norm: str) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    mean, std = NORMS[norm]
    expected = ((image.astype(np.float64) / 255.0 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(normalise(image, norm), expected, atol=1e-5)
    batch = np.zeros((2, 3, 64, 64), np.float32)
    normalise(image, norm, out=batch[1, :, :37, :53])
    np.testing.assert_allclose(batch[1, :, :37, :53], expected, atol=1e-5)
    assert not batch[0].any() and not batch[1, :, 37:].any() and not batch[1, :, :, 53:].any()
