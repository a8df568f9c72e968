"""End-to-end OCR on generated photos with known text, every model family, all four orientations."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from podocr.cli import main
from podocr.config import EngineConfig, PodocrConfig
from podocr.eval.metrics import match_lines, normalise_nospace
from podocr.ocr.pipeline import OcrPipeline
from podocr.ocr.runtime.engine import resolve_backend
from podocr.ocr.stages.rec import TextRecognizer
from podocr.types import PageResult

SETS = ["v4", "v5", "v6-tiny", "v6-small"]
LINES = [
    "SHIP TO: MARIA GONZALEZ",
    "4821 WILLOW CREEK RD APT 12",
    "SPRINGFIELD IL 62704",
    "TRACKING # 1Z5R89390357567127",
]
FONT = ImageFont.load_default(size=30)


def render_label(lines: list[str]) -> np.ndarray:
    img = Image.new("RGB", (760, 70 + 56 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        draw.text((34, 34 + 56 * i), text, font=FONT, fill=(20, 20, 20))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def render_photo(quarter_turns: int, seed: int = 0, size: tuple[int, int] = (2400, 1800)) -> np.ndarray:
    """A label pasted on a noisy cardboard-brown background, turned k×90° clockwise."""
    w, h = size
    rng = np.random.default_rng(seed)
    photo = (np.array([70, 120, 170], np.uint8) + rng.integers(0, 25, (h, w, 3))).astype(np.uint8)
    label = np.ascontiguousarray(np.rot90(render_label(LINES), -quarter_turns))
    y, x = (h - label.shape[0]) // 2 + 40, (w - label.shape[1]) // 3
    photo[y : y + label.shape[0], x : x + label.shape[1]] = label
    return photo


def read(page: PageResult) -> list[str]:
    return [line.text for line in page.lines]


@pytest.fixture(scope="module", params=SETS)
def pipeline(request: pytest.FixtureRequest) -> OcrPipeline:
    """Each family on its own: its detector for the probe too, no fast first-pass recogniser."""
    cfg = PodocrConfig().replace(models__set=request.param, roi__probe_set="", rec__fast_set="")
    return OcrPipeline.from_config(cfg, intra_op_threads=2)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [render_photo(k, seed=k) for k in range(4)]


def test_reads_known_lines_in_order_at_every_orientation(pipeline, photos):
    pages = pipeline.run(photos)
    assert len(pages) == 4
    for k, page in enumerate(pages):
        matches = match_lines(read(page), LINES)
        assert sum(m.read for m in matches) >= 3, (pipeline.models.name, k, read(page))
        assert "1Z5R89390357567127" in normalise_nospace("".join(read(page))), read(page)
        # reading order in the upright label frame: the lines we read keep the label's order
        order = [m.pred_index for m in matches if m.read and m.pred_index is not None]
        assert order == sorted(order), read(page)
        assert page.rotation == (0, 270, 180, 90)[k]
        assert (page.width, page.height) == (2400, 1800)
        assert set(page.timings) == {"roi", "det", "crop", "cls", "rec", "deblur"}  # deblur: 0 unless re-read
        assert all(v >= 0 for v in page.timings.values()) and page.timings["rec"] > 0


def test_quads_are_in_photo_pixels_around_the_printed_text(pipeline, photos):
    page = pipeline.run(photos[:1])[0]
    label_x = (2400 - 760) // 3
    label_y = (1800 - (70 + 56 * len(LINES))) // 2 + 40
    for line in page.lines:
        i = next(
            i for i, t in enumerate(LINES) if normalise_nospace(t)[:8] == normalise_nospace(line.text)[:8]
        )
        q = np.array(line.quad)
        center_y = q[:, 1].mean()
        assert abs(center_y - (label_y + 34 + 56 * i + 15)) < 12, (line.text, q)
        assert q[0, 0] == pytest.approx(label_x + 34, abs=15)  # TL corner at the text's start
        assert q[0, 0] < q[1, 0] and q[0, 1] < q[3, 1]  # upright: TL left of TR, above BL
    assert page.roi is not None
    x0, y0, x1, y1 = page.roi
    assert x0 <= label_x + 34 and y0 <= label_y + 34 and x1 >= label_x + 500 and y1 >= label_y + 200


@pytest.mark.parametrize("set_name", ["v6-tiny"])
def test_whole_photo_mode_reads_too(set_name, photos):
    cfg = PodocrConfig().replace(models__set=set_name, roi__enabled=False)
    page = OcrPipeline.from_config(cfg, intra_op_threads=2).run(photos[2:3])[0]
    assert page.roi is None
    assert sum(m.read for m in match_lines(read(page), LINES)) >= 3, read(page)


GOLDEN_SYNTH = [
    (11, 0),
    (11, 18),
    (11, 152),
    (11, 24),
]  # podocr.synth seed 11, no blur: ~0°, ~270°, ~180°, ~90°


@pytest.fixture(scope="module")
def synth_photos() -> list[tuple[np.ndarray, dict]]:
    from podocr.synth import render_photo

    return [render_photo(seed, index, max_side=1280) for seed, index in GOLDEN_SYNTH]


def test_default_pipeline_reads_synthetic_pod_photos(synth_photos):
    """The shipped configuration (v6-small + tiny probe + tiny first-pass rec) on generator photos."""
    pipeline = OcrPipeline.from_config(PodocrConfig(), intra_op_threads=2)
    assert set(pipeline.info()["providers"]) == {"det", "probe_det", "rec_fast", "rec", "cls"}
    pages = pipeline.run([img for img, _ in synth_photos])
    recalls = []
    for (img, record), page in zip(synth_photos, pages, strict=True):
        lines = read(page)
        matches = match_lines(lines, [ln["text"] for ln in record["lines"]])
        recalls.append(sum(m.read for m in matches) / len(matches))
        assert normalise_nospace(record["fields"]["tracking_number"]) in normalise_nospace("".join(lines))
        expected = (-round(record["condition"]["rotation_deg"] / 90) % 4) * 90
        assert page.rotation == expected, (record["id"], page.rotation, record["condition"]["rotation_deg"])
        assert page.roi is not None and (page.width, page.height) == (img.shape[1], img.shape[0])
    # upright, sideways and upside-down labels read alike (small text near the readable limit makes a single
    # photo's recall swing by ±0.2 with a pixel of box placement, so the bound is on the three together)
    assert sum(recalls[:3]) / 3 >= 0.75 and min(recalls[:3]) >= 0.5, recalls
    assert recalls[3] >= 0.2, recalls  # photo 24: the probe sees only the big lines of a small sideways label


@pytest.fixture(scope="module")
def tiny() -> OcrPipeline:
    return OcrPipeline.from_config(PodocrConfig().replace(models__set="v6-tiny"), intra_op_threads=2)


def test_edge_images_give_empty_pages_not_errors(tiny):
    assert tiny.run([]) == []
    assert tiny.run_safe([]) == []
    edge = [
        np.zeros((1, 1, 3), np.uint8),
        np.full((7, 300, 3), 255, np.uint8),
        np.full((4000, 6000, 3), (40, 90, 200), np.uint8),  # big, single colour
        np.zeros((50, 50), np.uint8),  # grey is accepted
        np.zeros((64, 64, 4), np.uint8),  # BGRA is accepted
    ]
    pages = tiny.run(edge)
    assert [p.lines for p in pages] == [[]] * 5
    assert [(p.width, p.height) for p in pages] == [(1, 1), (300, 7), (6000, 4000), (50, 50), (64, 64)]


def test_run_safe_isolates_bad_photos(tiny, photos):
    bad_dtype = np.zeros((10, 10, 3), np.float32)
    out = tiny.run_safe([photos[0], bad_dtype, "not an image", photos[2]])
    assert isinstance(out[1], ValueError) and isinstance(out[2], TypeError)
    for good in (out[0], out[3]):
        assert isinstance(good, PageResult) and "1Z5R89390357567127" in normalise_nospace(good.full_text)
    with pytest.raises(ValueError):
        tiny.run([photos[0], bad_dtype])


def test_info_names_models_and_providers(tiny):
    info = tiny.info()
    backend = resolve_backend(EngineConfig())  # `auto`: OpenVINO where the CPU has native bf16
    provider = {"onnxruntime": "CPUExecutionProvider", "openvino": "openvino-cpu/bf16"}[backend]
    assert info["model_set"] == "v6-tiny" and info["backend"] == backend
    assert info["providers"] == {"det": provider, "rec": provider, "cls": provider}
    assert set(info["sha256"]) == {"v6-tiny-det", "v6-tiny-rec", "v5-cls", "v6-tiny-dict"}


def test_recognizer_returns_results_in_input_order_across_width_buckets(tiny):
    words = [
        "B12",
        "MAPLE",
        "SPRINGFIELD IL 62704",
        "7",
        "1Z5R89390357567127",
        "OAK ST",
        "APT 12",
        "NEW YORK NY",
    ]
    crops = []
    for w in words:
        img = Image.new("RGB", (40 + 18 * len(w), 48), "white")
        ImageDraw.Draw(img).text((12, 8), w, font=FONT, fill="black")
        crops.append(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR))
    small_batches = TextRecognizer(
        tiny.recognizer.engine,
        tiny.cfg.rec.__class__(batch_size=3, min_width=80),
        tiny.recognizer.charset,
        48,
    )
    texts = [t for t, _ in small_batches.recognize(crops)]
    assert [normalise_nospace(t) for t in texts] == [normalise_nospace(w) for w in words]

    # reads made earlier are returned as given and not read again; the others read as before
    calls: list[int] = []
    engine = tiny.recognizer.engine

    class Counting:
        def run(self, x: np.ndarray) -> np.ndarray:
            calls.append(x.shape[0])
            return engine.run(x)

    counted = TextRecognizer(Counting(), small_batches.cfg, tiny.recognizer.charset, 48)  # type: ignore[arg-type]
    out = counted.recognize(crops, {0: ("EARLIER", 0.42), 4: ("1Z", 0.5)})
    assert out[0] == ("EARLIER", 0.42) and out[4] == ("1Z", 0.5)
    assert [normalise_nospace(t) for i, (t, _) in enumerate(out) if i not in (0, 4)] == [
        normalise_nospace(w) for i, w in enumerate(words) if i not in (0, 4)
    ]
    assert sum(calls) == len(words) - 2


def test_cli_prints_lines_json_and_annotation(tmp_path, photos):
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), photos[1])
    runner = CliRunner()
    result = runner.invoke(
        main, ["ocr", str(path), "--set", "v6-tiny", "--annotate", str(tmp_path / "a.png")]
    )
    assert result.exit_code == 0, result.output
    assert "1Z5R89390357567127" in result.output.replace(" ", "") and "rotation 270" in result.output
    drawn = cv2.imread(str(tmp_path / "a.png"))
    assert drawn is not None and drawn.shape == photos[1].shape and not np.array_equal(drawn, photos[1])
    result = runner.invoke(main, ["ocr", str(path), "--set", "v6-tiny", "--json"])
    doc = json.loads(result.output)
    assert doc["image"] == str(path) and doc["rotation"] == 270 and len(doc["lines"]) >= 3
    result = runner.invoke(main, ["ocr", str(path), "--set", "nope"])
    assert result.exit_code != 0 and "unknown model set" in result.output


def test_batch_threads_give_the_same_pages_in_the_same_order(tiny, photos):
    split = OcrPipeline.from_config(
        PodocrConfig().replace(models__set="v6-tiny", engine__batch_threads=3), intra_op_threads=1
    )
    batch = [photos[0], photos[1], np.zeros((20, 20, 3), np.uint8), photos[2], photos[3]]
    expected = [read(p) for p in tiny.run(batch)]
    pages = split.run(batch)
    assert [read(p) for p in pages] == expected
    assert [p.rotation for p in pages] == [0, 270, 0, 180, 90]


@pytest.fixture(scope="module")
def default_pipeline() -> OcrPipeline:
    return OcrPipeline.from_config(PodocrConfig(), intra_op_threads=2)


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_a_photo_turned_reads_like_the_photo(default_pipeline, synth_photos, quarter_turns):
    """The same upright photo turned 90°/180°/270° (lossless): orientation handling, free of scene noise.

    Sideways labels are where the upright-trained detectors see least (the probe's second, turned look)."""
    img, record = next((im, r) for im, r in synth_photos if abs(r["condition"]["rotation_deg"]) < 30)
    turned = np.ascontiguousarray(np.rot90(img, -quarter_turns))  # clockwise
    upright, page = default_pipeline.run([img, turned])
    truth = [ln["text"] for ln in record["lines"]]
    base = sum(m.read for m in match_lines(read(upright), truth))
    got = sum(m.read for m in match_lines(read(page), truth))
    assert page.rotation == (upright.rotation - 90 * quarter_turns) % 360  # the turn that undoes it
    assert got >= base - 2, (got, base)
    assert normalise_nospace(record["fields"]["tracking_number"]) in normalise_nospace("".join(read(page)))


@pytest.mark.parametrize(
    ("vote", "upside_down", "flip"),
    [
        (0.3, False, False),  # the classifier wrongly says "upside down": reading both ways overrules it
        (0.3, True, True),
        (-0.2, True, True),  # a weak "upright" vote on upside-down lines is overruled too
        (-0.2, False, False),
        (-0.5, True, False),  # a sure vote is not re-read (the classifier decides; this is the cheap path)
    ],
)
def test_uncertain_or_flipping_votes_are_confirmed_by_reading(default_pipeline, vote, upside_down, flip):
    from podocr.ocr.geometry import rotate90
    from podocr.ocr.region import Region
    from podocr.ocr.stages.orient import confirm_flips

    label = render_label(LINES)
    crops = [label[34 + 56 * i - 8 : 34 + 56 * i + 40, 20:740] for i in range(len(LINES))]
    region = Region(0, None, label, None)  # type: ignore[arg-type]  # only the crops are read here
    region.crops = [rotate90(c, 2) for c in crops] if upside_down else crops
    picks = np.arange(len(crops))
    quick, below = default_pipeline.recognizer.quick, default_pipeline.cfg.cls.confirm_below
    assert confirm_flips([region], [picks], [vote], quick, below) == [flip]
    if vote > -default_pipeline.cfg.cls.confirm_below:
        # the reads of the way chosen are kept, so recognition does not read these lines again
        chosen = [rotate90(c, 2) for c in region.crops] if flip else region.crops
        fresh = default_pipeline.recognizer.quick.recognize(chosen)
        assert [region.quick_reads[j] for j in range(len(crops))] == fresh
        assert [normalise_nospace(t) for t, _ in fresh] == [normalise_nospace(t) for t in LINES]
    else:
        assert region.quick_reads == {}


@pytest.mark.parametrize(
    ("text", "conf", "recheck"),
    [
        ("MAPLE AVE", 0.85, True),  # unsure: re-read
        ("MAPLE AVE", 0.95, False),
        ("1Z 5R8 939 03 5756 7127", 0.95, True),  # number-heavy and not near-certain: re-read
        ("1Z 5R8 939 03 5756 7127", 0.995, False),  # near-certain: a re-read changed only spacing (measured)
        ("PO 1234567", 0.95, False),  # 7 digits: not a tracking-number line
    ],
)
def test_cascade_rechecks_unsure_and_number_heavy_lines(tiny, text, conf, recheck):
    from podocr.ocr.stages.rec import CascadeRecognizer

    rec = tiny.recognizer
    cascade = CascadeRecognizer(rec, rec, recheck_below=0.9, recheck_digits=8, recheck_digits_below=0.99)
    assert cascade.recheck(text, conf) is recheck
