"""The GPU shape profile: padding rules, the closed set, warm-up over every shape, and a real pipeline run
whose every model call falls inside the closed set (ONNX Runtime on CPU; shapes do not depend on the device)."""

from __future__ import annotations

import numpy as np
import pytest

from podocr.config import ConfigError, PodocrConfig
from podocr.ocr.build import build_components, describe, shape_profiles
from podocr.ocr.pipeline import OcrPipeline
from podocr.ocr.registry import ModelError, resolve
from podocr.ocr.runtime.infer_thread import ThreadedEngine
from podocr.ocr.shapes import ShapePolicy, closed_set, profile_name
from podocr.ocr.stages.det import TextDetector
from podocr.synth import render_photo


def _small(**extra: object) -> PodocrConfig:
    """A GPU profile small enough to warm up on a shared CPU in seconds."""
    cfg = PodocrConfig().replace(
        engine__shape_profile="gpu",
        engine__intra_op_threads=1,
        engine__gpu_det_sides="320,640",
        engine__gpu_rec_widths="160,320",
        engine__gpu_batches="1,2",
        det__max_side=640,
        det__min_side=320,
        det__batch_size=2,
        rec__max_width=320,
        rec__batch_size=4,
        cls__batch_size=2,
        roi__probe_side=320,
    )
    for k, v in extra.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def _models_or_skip(cfg: PodocrConfig) -> None:
    try:
        resolve(cfg.models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")


def test_auto_profile_follows_the_provider() -> None:
    cfg = PodocrConfig()
    assert profile_name(cfg) == "cpu"
    assert profile_name(cfg.replace(engine__provider="cuda")) == "gpu"
    assert profile_name(cfg.replace(engine__provider="tensorrt")) == "gpu"
    assert profile_name(cfg.replace(engine__provider="cuda", engine__shape_profile="cpu")) == "cpu"
    with pytest.raises(ConfigError):
        profile_name(cfg.replace(engine__shape_profile="fast"))


def test_padding_rules_land_on_the_ladders() -> None:
    p = ShapePolicy.from_config(PodocrConfig())
    assert p.det_sides == (640, 960, 1280, 1600)
    assert p.det_canvas(480, 640) == (640, 640)
    assert p.det_canvas(641, 1600) == (960, 1600)
    assert p.rec_width(81) == 160 and p.rec_width(1600) == 1600 and p.rec_width(5) == 80
    assert p.batch_rungs(8) == (1, 4, 8) and p.batch_rungs(64) == (1, 4, 16, 64)
    assert [p.batch(n, 8) for n in (1, 2, 4, 5, 8)] == [1, 4, 4, 8, 8]
    # the stages' own caps are always on the ladder, so nothing they produce falls outside the set
    q = ShapePolicy.from_config(PodocrConfig().replace(det__max_side=2000, rec__max_width=1200))
    assert q.det_sides[-1] == 2016 and q.rec_widths[-1] == 1200 and 1600 not in q.rec_widths
    with pytest.raises(ConfigError):
        ShapePolicy.from_config(PodocrConfig().replace(engine__gpu_det_sides="640,700"))


def test_closed_set_size_for_the_defaults() -> None:
    cfg = PodocrConfig()
    p = ShapePolicy.from_config(cfg)
    closed = closed_set(cfg, p, {"rec_fast": 48, "rec": 48})
    assert {r: len(v) for r, v in closed.items()} == {
        "det": 16 * 3,  # 4 × 4 canvases × batches 1, 4, 8
        "probe_det": 1 * 3,  # probes are ≤ 640 px: one canvas
        "rec_fast": 8 * 4,  # 8 widths × batches 1, 4, 16, 64
        "rec": 8 * 4,
        "cls": 4,
    }
    profiles = shape_profiles(cfg, 48, p)
    assert profiles["det"].max == (8, 3, 1600, 1600) and profiles["rec"].min == (1, 3, 48, 80)


def test_warm_up_runs_every_shape_of_the_closed_set_once() -> None:
    cfg = _small()
    _models_or_skip(cfg)
    parts = build_components(cfg)
    try:
        closed = closed_set(cfg, parts.shapes, parts.rec_heights())  # type: ignore[arg-type]
        engines = parts.engines()
        assert set(engines) == {"det", "probe_det", "rec_fast", "rec", "cls"}
        for role, engine in engines.items():
            assert isinstance(engine, ThreadedEngine)
            assert dict(engine.shapes) == dict.fromkeys(closed[role], 1), role
        info = describe(cfg, parts)
        assert info["shape_profile"] == "gpu" and info["infer_thread"] is True
        assert (
            info["warm_up"]["shapes"] == sum(len(closed[r]) for r in engines) == 8 + 2 + 6 + 6 + 2
        )  # rec: 2 widths × batches 1, 2, 4
        assert info["warm_up"]["seconds"] > 0
    finally:
        parts.close()


def test_cpu_profile_has_no_thread_and_no_warm_up() -> None:
    cfg = PodocrConfig().replace(engine__intra_op_threads=1)
    _models_or_skip(cfg)
    parts = build_components(cfg)
    assert parts.shapes is None and parts.thread is None and parts.warmed is None
    assert "warm_up" not in describe(cfg, parts)


def test_a_real_pipeline_run_stays_inside_the_closed_set() -> None:
    cfg = _small(engine__warm_up=False)
    _models_or_skip(cfg)
    photos = [render_photo(31, i, max_side=1200)[0] for i in range(3)]
    pipeline = OcrPipeline.from_config(cfg)
    try:
        pages = pipeline.run(photos)
        assert sum(len(p.lines) for p in pages) > 10, "the photos must hold text"
        closed = closed_set(cfg, pipeline.parts.shapes, pipeline.parts.rec_heights())  # type: ignore[arg-type]
        seen_any = 0
        for role, engine in pipeline.parts.engines().items():
            assert isinstance(engine, ThreadedEngine)
            assert set(engine.shapes) <= set(closed[role]), (role, set(engine.shapes) - set(closed[role]))
            seen_any += len(engine.shapes)
        assert seen_any > 4
    finally:
        pipeline.parts.close()


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_det_canvas_fill_keeps_the_image_and_continues_its_border(mode: str) -> None:
    p = ShapePolicy.from_config(PodocrConfig().replace(engine__gpu_det_pad=mode))
    image = render_photo(7, 0, max_side=300)[0]
    h, w = image.shape[:2]
    filled = p.pad_det(image, 640, 640)
    if mode == "constant":  # the stage fills with its normalised zero itself
        assert filled is None
        return
    assert filled is not None and filled.shape == (640, 640, 3) and filled.dtype == np.uint8
    assert np.array_equal(filled[:h, :w], image)
    if mode == "edge":
        assert np.array_equal(filled[:h, w], image[:, -1]) and np.array_equal(filled[h, :w], image[-1])
    else:  # mirrored about the last row/column, which is not repeated
        assert np.array_equal(filled[:h, w], image[:, -2]) and np.array_equal(filled[h, :w], image[-2])


def test_unknown_det_fill_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ShapePolicy.from_config(PodocrConfig().replace(engine__gpu_det_pad="wrap"))


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    (ax0, ay0), (ax1, ay1) = a.min(0), a.max(0)
    (bx0, by0), (bx1, by1) = b.min(0), b.max(0)
    inter = max(min(ax1, bx1) - max(ax0, bx0), 0) * max(min(ay1, by1) - max(ay0, by0), 0)
    return float(inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter))


@pytest.mark.parametrize("index", [0, 3])
def test_mirrored_fill_keeps_the_lines_a_flat_fill_loses_on_a_large_canvas(index: int) -> None:
    """A photo on a canvas far larger than itself: with the mean-colour fill the detector loses lines the tight
    canvas (the CPU profile) finds; with the photo mirrored into the fill (the default) it keeps more of them.
    Every box lies inside the photo either way (the map is cropped back before boxes are taken)."""
    cfg = PodocrConfig().replace(engine__intra_op_threads=1)
    _models_or_skip(cfg)
    parts = build_components(cfg)
    image = render_photo(41, index, max_side=900)[0]
    h, w = image.shape[:2]
    tight = parts.detector.detect([image])[0]
    assert len(tight) > 5, "the photo must hold text"
    kept = {}
    for mode in ("constant", "reflect"):
        policy = ShapePolicy.from_config(cfg.replace(engine__gpu_det_sides="1600", engine__gpu_det_pad=mode))
        wide = TextDetector(parts.detector.engine, cfg.det, parts.detector.norm, policy)
        assert wide.canvas(h, w) == (1600, 1600)
        boxes = wide.detect([image])[0]
        assert (boxes.quads[..., 0] <= w).all() and (boxes.quads[..., 1] <= h).all()
        kept[mode] = sum(any(_box_iou(q, t) > 0.5 for q in boxes.quads) for t in tight.quads)
    assert kept["reflect"] > kept["constant"], (kept, len(tight))
    assert kept["reflect"] >= 0.5 * len(tight), (kept, len(tight))
