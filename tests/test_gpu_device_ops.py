"""The device read path (podocr/ocr/device) on the CPU: each op against its host counterpart, the decoder's
fallbacks, and the whole read against the host read on synthetic photos (torch backend on both sides)."""

from __future__ import annotations

import importlib.util
import io
import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import badinput  # noqa: E402
from PIL import Image  # noqa: E402

from podocr.config import ConfigError, DetConfig, IOConfig, PodocrConfig  # noqa: E402
from podocr.io.decode import decode_image  # noqa: E402
from podocr.io.errors import PhotoError  # noqa: E402
from podocr.ocr.build import device_ops_on  # noqa: E402
from podocr.ocr.device import ctc, db, resize, warp  # noqa: E402
from podocr.ocr.device.profile import DeviceProfile, merge  # noqa: E402
from podocr.ocr.device.reader import region_image  # noqa: E402
from podocr.ocr.device.stages import DeviceLineClassifier, DeviceTextDetector, DeviceTextRecognizer  # noqa: E402
from podocr.ocr.frames import region_image as host_region_image  # noqa: E402
from podocr.ocr.shapes import ShapePolicy  # noqa: E402
from podocr.ocr.stages.cls import LineClassifier  # noqa: E402
from podocr.ocr.stages.crop import crop_quad  # noqa: E402
from podocr.ocr.stages.det import TextDetector, db_boxes  # noqa: E402
from podocr.ocr.stages.plan import probe_image  # noqa: E402
from podocr.ocr.stages.rec import TextRecognizer, ctc_greedy_decode  # noqa: E402
from podocr.ocr.stages.roi import ReadPlan  # noqa: E402
from podocr.synth import render_photo  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")]
# the device decoder needs torchvision's; a bare GPU host may carry only a stub torchvision (gpu_device_run.sh)
needs_decoder = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None or importlib.util.find_spec("torchvision.io") is None,
    reason="torchvision.io not installed",
)


def decode_batch(*args: object) -> list:
    from podocr.ocr.device.decode import decode_batch as decode

    return decode(*args)  # type: ignore[arg-type]


CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(
    params=[
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
        ),
    ]
)
def dev(request: pytest.FixtureRequest) -> torch.device:
    """Where the op under test runs: the CPU always, the GPU where there is one (the device session's check)."""
    return torch.device(request.param)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A rendered POD photo: label text, barcode, carton, at a size the tests resample quickly."""
    return render_photo(29, 1, max_side=1200)[0]


def _close(a: np.ndarray, b: np.ndarray, max_share: float = 0.01) -> None:
    """Same shape; at most one grey level apart, on at most `max_share` of the values."""
    assert a.shape == b.shape
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert d.max() <= 1, f"max difference {d.max()}"
    assert (d > 0).mean() <= max_share, f"{(d > 0).mean():.4f} of values differ"


# ---- pre-processing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "mode", "flag"),
    [
        ((700, 525), "area", cv2.INTER_AREA),  # shrink, non-integer scale
        ((450, 600), "area", cv2.INTER_AREA),  # exact 2×
        ((1000, 1300), "linear", cv2.INTER_LINEAR),  # grow
        ((950, 1100), "area", cv2.INTER_AREA),  # one axis grows, one shrinks: OpenCV's area-upsampling
        ((450, 600), "linear", cv2.INTER_LINEAR),  # exact 2× linear: OpenCV takes it as area
        ((333, 1250), "linear", cv2.INTER_LINEAR),  # mixed linear
    ],
)
def test_resize_matches_opencv(
    photo: np.ndarray, size: tuple[int, int], mode: str, flag: int, dev: torch.device
) -> None:
    host = cv2.resize(photo, size, interpolation=flag)
    _close(host, resize.resize(torch.from_numpy(photo).to(dev), size, mode).cpu().numpy())


@pytest.mark.parametrize("scale", [0.53, 0.31, 0.2])
def test_probe_image_matches_the_host_probe(photo: np.ndarray, scale: float, dev: torch.device) -> None:
    _close(
        probe_image(photo, scale), resize.probe_image(torch.from_numpy(photo).to(dev), scale).cpu().numpy()
    )


@pytest.mark.parametrize(
    "plan",
    [
        ReadPlan((100, 150, 800, 1100), 0, 0.61, True),  # shrink
        ReadPlan((200, 300, 700, 900), 3, 1.7, True),  # grow, turned
        ReadPlan((0, 0, 900, 1200), 0, 1.0, False),  # the whole photo, near its size
    ],
)
def test_region_image_matches_the_host_frame(photo: np.ndarray, plan: ReadPlan, dev: torch.device) -> None:
    host, host_affine = host_region_image(photo, plan, 64)
    image, affine = region_image(torch.from_numpy(photo).to(dev), plan, 64)
    np.testing.assert_array_equal(host_affine, affine)
    _close(host, image.cpu().numpy())


class Recorder:
    """An engine that keeps what it was fed and answers with a fixed-shape output (the stage's inputs are what is
    under test here, not a model)."""

    provider, input_name = "recorder", "x"

    def __init__(self, channels: int, steps: int = 0, flat: bool = False) -> None:
        self.channels, self.steps, self.flat, self.inputs = channels, steps, flat, []

    def run(self, x: np.ndarray) -> np.ndarray:
        self.inputs.append(np.array(x))
        if self.flat:  # a classifier: (N, classes)
            return np.full((x.shape[0], self.channels), 0.5, np.float32)
        if self.steps:
            return np.full((x.shape[0], self.steps, self.channels), 1.0 / self.channels, np.float32)
        return np.zeros((x.shape[0], self.channels, *x.shape[2:]), np.float32)


@pytest.mark.parametrize("pad", ["none", "constant", "edge", "reflect"])
def test_detector_batches_are_bit_identical(photo: np.ndarray, pad: str, dev: torch.device) -> None:
    images = [photo[:300, :500].copy(), photo[200:520, 100:400].copy(), photo[:64, :64].copy()]
    policy = None
    if pad != "none":
        cfg = PodocrConfig().replace(engine__gpu_det_sides="320,640,1600", engine__gpu_det_pad=pad)
        policy = ShapePolicy.from_config(cfg)
    fed_host, fed_device = Recorder(1), Recorder(1)
    TextDetector(fed_host, DetConfig(), "imagenet", policy).detect(images)
    device = DeviceTextDetector(TextDetector(fed_device, DetConfig(), "imagenet", policy), DeviceProfile(dev))
    device.detect([torch.from_numpy(im).to(dev) for im in images])
    assert len(fed_host.inputs) == len(fed_device.inputs) >= 2
    for a, b in zip(fed_host.inputs, fed_device.inputs, strict=True):
        np.testing.assert_array_equal(a, b)


def _lines(photo: np.ndarray) -> list[np.ndarray]:
    """Text-line-like crops of several heights and widths (below, at and above the recogniser height)."""
    return [
        photo[y : y + h, x : x + w].copy()
        for y, x, h, w in [(40, 30, 12, 90), (300, 100, 48, 400), (500, 60, 75, 260), (700, 10, 30, 700)]
    ]


def test_recogniser_and_classifier_batches_match_the_host(photo: np.ndarray, dev: torch.device) -> None:
    crops = _lines(photo)
    charset = ["", *"abc", " "]
    fed_host, fed_device = Recorder(len(charset), steps=10), Recorder(len(charset), steps=10)
    rc = PodocrConfig().rec
    TextRecognizer(fed_host, rc, charset, 48).recognize(crops)
    device = DeviceTextRecognizer(TextRecognizer(fed_device, rc, charset, 48), DeviceProfile(dev))
    device.recognize([torch.from_numpy(c).to(dev) for c in crops])
    host_c, dev_c = Recorder(2, flat=True), Recorder(2, flat=True)
    LineClassifier(host_c, PodocrConfig().cls).prob_180(crops)
    DeviceLineClassifier(LineClassifier(dev_c, PodocrConfig().cls), DeviceProfile(dev)).prob_180(
        [torch.from_numpy(c).to(dev) for c in crops]
    )
    for a, b in zip(fed_host.inputs + host_c.inputs, fed_device.inputs + dev_c.inputs, strict=True):
        assert a.shape == b.shape
        # inputs are (pixel × 2/255 − 1): one grey level is 2/255
        diff = np.abs(a - b)
        assert diff.max() <= 2 / 255 + 1e-6
        assert (diff > 1e-6).mean() < 0.02


# ---- DB post-processing ------------------------------------------------------------------------------------
def _prob_map(seed: int) -> np.ndarray:
    """Blurred, rotated bars of text-line probability, with noise: what a DB map looks like."""
    rng = np.random.default_rng(seed)
    prob = np.zeros((480, 640), np.float32)
    for _ in range(12):
        cx, cy = rng.uniform(60, 580), rng.uniform(30, 450)
        w, h, a = rng.uniform(20, 200), rng.uniform(5, 25), rng.uniform(-20, 20)
        box = cv2.boxPoints(((cx, cy), (w, h), a)).astype(np.int32)
        cv2.fillPoly(prob, [box], float(rng.uniform(0.45, 0.95)))
    prob = cv2.GaussianBlur(prob, (0, 0), 1.5) + rng.uniform(0, 0.05, prob.shape).astype(np.float32)
    return np.clip(prob, 0, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dilate", [True, False])
def test_db_boxes_from_the_device_maps_match_the_host(seed: int, dilate: bool, dev: torch.device) -> None:
    cfg = DetConfig(dilate=dilate)
    prob = _prob_map(seed)
    host = db_boxes(prob, cfg)
    got = db.db_boxes(torch.from_numpy(prob).to(dev), cfg)
    assert len(host) == len(got) > 3
    np.testing.assert_allclose(got.quads, host.quads, atol=2.0)
    np.testing.assert_allclose(got.scores, host.scores, atol=1 / 255)


def test_db_maps_of_a_batch_come_back_in_one_piece_each() -> None:
    cfg = DetConfig()
    maps = [_prob_map(0), _prob_map(1)[:300, :500], _prob_map(2)[:64, :640]]
    batch = db.db_boxes_batch([torch.from_numpy(np.ascontiguousarray(m)) for m in maps], cfg)
    for m, got in zip(maps, batch, strict=True):
        want = db.db_boxes(torch.from_numpy(np.ascontiguousarray(m)), cfg)
        np.testing.assert_array_equal(got.quads, want.quads)
        np.testing.assert_array_equal(got.scores, want.scores)


def test_device_threshold_and_dilation_match_opencv() -> None:
    prob = _prob_map(5)
    cfg = DetConfig()
    bitmap, prob8 = db.threshold_maps(torch.from_numpy(prob)[None], cfg)
    host = cv2.dilate((prob > cfg.thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
    np.testing.assert_array_equal(bitmap[0].numpy(), host)
    assert np.abs(prob8[0].numpy() / 255.0 - prob).max() <= 0.5 / 255 + 1e-6


# ---- crops ---------------------------------------------------------------------------------------------------
QUADS = np.array(
    [
        [[100.3, 200.7], [600.2, 190.1], [601.5, 230.4], [101.1, 241.0]],  # tilted line
        [[300, 500], [340, 500], [340, 512], [300, 512]],  # small, axis-aligned
        [[800.5, 300.2], [820.7, 700.1], [790.3, 701.5], [770.1, 301.3]],  # vertical (reads downwards)
        [[50, 900], [400, 880], [420, 960], [40, 950]],  # perspective
        [[0, 0], [30, 0], [30, 10], [0, 10]],  # at the photo's corner: border replicated
    ],
    np.float32,
)


@pytest.mark.parametrize("min_height", [0, 48])
def test_line_crops_match_the_host_warp(photo: np.ndarray, min_height: int, dev: torch.device) -> None:
    crops = warp.crop_lines(torch.from_numpy(photo).to(dev), QUADS, min_height)
    for quad, crop in zip(QUADS, crops, strict=True):
        host = crop_quad(photo, quad, min_height)
        assert host.shape == tuple(crop.shape)
        d = np.abs(host.astype(np.int16) - crop.cpu().numpy().astype(np.int16))
        # OpenCV samples at 1/32 px and weighs in fixed point: a level or two on a few edge pixels
        assert d.max() <= 3 and (d > 1).mean() < 0.01, (quad.tolist(), d.max(), (d > 1).mean())


def test_homographies_match_opencv() -> None:
    dst = np.array([[0, 0], [500, 0], [500, 40], [0, 40]], np.float32) - 0.5
    for quad in QUADS:
        host = cv2.getPerspectiveTransform(dst, quad - 0.5)
        dev = warp.homographies(
            torch.from_numpy(quad[None] - 0.5).double(), torch.from_numpy(dst[None]).double()
        )
        np.testing.assert_allclose(dev[0].numpy(), host, rtol=1e-6, atol=1e-6)


# ---- CTC -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ctc_on_the_device_reads_the_host_strings(seed: int, dev: torch.device) -> None:
    rng = np.random.default_rng(seed)
    charset = ["", *"ABCDEFGHIJ0123456789", " "]
    logits = rng.normal(0, 3, (16, 40, len(charset))).astype(np.float32)
    logits[:, ::3, 0] += 6  # plenty of blanks, so repeats collapse and lines differ in length
    logits[3] = -5
    logits[3, :, 0] = 5  # an empty line
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    probs[5, :, :] = 1.0 / len(charset)  # all ties: index 0 wins on both sides
    host = ctc_greedy_decode(probs, charset)
    got = ctc.ctc_greedy_decode(torch.from_numpy(probs).to(dev), charset)
    assert [t for t, _ in host] == [t for t, _ in got]
    assert host[3] == ("", 0.0) == got[3]
    np.testing.assert_allclose([c for _, c in got], [c for _, c in host], atol=1e-4)


# ---- decode --------------------------------------------------------------------------------------------------
def _jpeg(im: Image.Image, **kwargs: object) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", **kwargs)
    return out.getvalue()


def _fallback_cases(photo: np.ndarray) -> dict[str, bytes]:
    rgb = Image.fromarray(cv2.cvtColor(photo[:240, :320], cv2.COLOR_BGR2RGB))
    webp = io.BytesIO()
    rgb.save(webp, "WEBP", quality=90)
    jpeg = _jpeg(rgb, quality=90)
    return {
        "baseline": jpeg,
        "grey": _jpeg(rgb.convert("L"), quality=90),
        "png": cv2.imencode(".png", photo[:240, :320])[1].tobytes(),
        "webp": webp.getvalue(),
        "cmyk": _jpeg(rgb.convert("CMYK"), quality=90),
        "progressive": _jpeg(rgb, quality=90, progressive=True),
        "truncated": jpeg[: len(jpeg) // 2],
        "heic": badinput.heic_like(),
        "empty": b"",
        "exif6": _jpeg(rgb, quality=90, exif=badinput.exif_bytes(6)),
    }


@needs_decoder
def test_decode_batch_gives_one_result_per_photo_like_the_host(photo: np.ndarray, dev: torch.device) -> None:
    cases = _fallback_cases(photo)
    io_cfg = IOConfig()
    out = decode_batch(list(cases.values()), io_cfg, dev)
    assert len(out) == len(cases)
    decoders = {}
    for (name, data), got in zip(cases.items(), out, strict=True):
        try:
            want = decode_image(data, io_cfg)
        except PhotoError as exc:
            assert isinstance(got, PhotoError), name
            assert (got.code, got.message) == (exc.code, exc.message), name
            continue
        assert not isinstance(got, PhotoError), (name, got)
        assert (got.width, got.height, got.format, got.sha256, got.exif_orientation) == (
            want.width,
            want.height,
            want.format,
            want.sha256,
            want.exif_orientation,
        ), name
        # libjpeg builds differ in IDCT and chroma upsampling by a few levels; the host fallbacks are exact
        assert got.image.device.type == dev.type
        diff = np.abs(got.image.cpu().numpy().astype(np.int16) - want.image.astype(np.int16))
        assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 8, (name, diff.mean())
        decoders[name] = got.decoder
    assert decoders["baseline"] == decoders["grey"] == decoders["exif6"] == "device"
    for name in ("png", "webp", "cmyk", "progressive"):
        assert decoders[name].startswith("host: "), (name, decoders[name])
    assert {name for name in cases if name not in decoders} == {"truncated", "heic", "empty"}


@needs_decoder
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_on_the_device_matches_the_host(orientation: int, dev: torch.device) -> None:
    data = badinput.stored_for(orientation, "JPEG")
    (got,) = decode_batch([data], IOConfig(), dev)
    want = decode_image(data, IOConfig())
    assert not isinstance(got, PhotoError)
    assert got.decoder == "device"
    assert (got.width, got.height) == (badinput.CARD_W, badinput.CARD_H) == (want.width, want.height)
    diff = np.abs(got.image.cpu().numpy().astype(np.int16) - want.image.astype(np.int16))
    assert diff.mean() < 3, diff.mean()


@needs_decoder
def test_the_bad_input_corpus_decodes_as_on_the_host(dev: torch.device) -> None:
    cases = badinput.corpus()
    out = decode_batch([c.data for c in cases], IOConfig(), dev)
    for case, got in zip(cases, out, strict=True):
        if case.code is not None:
            assert isinstance(got, PhotoError) and got.code == case.code, case.name
        else:
            assert not isinstance(got, PhotoError), (case.name, got)
            assert (got.format, (got.width, got.height)) == (case.format, case.size), case.name


@needs_decoder
def test_a_job_reading_on_the_device_decodes_there_and_hands_the_barcode_decoder_numpy(
    photo: np.ndarray,
) -> None:
    from types import SimpleNamespace

    from podocr.io.decode import DecodedImage
    from podocr.job.photos import PhotoChain, host_pixels

    data = _fallback_cases(photo)["exif6"]
    cfg = PodocrConfig()
    on_device = PhotoChain(cfg, None, [], None, SimpleNamespace(device=SimpleNamespace(device=CPU)))
    on_host = PhotoChain(cfg, None, [], None, SimpleNamespace())
    got, want = on_device._decoder()(data), on_host._decoder()(data)
    assert isinstance(want, DecodedImage) and got.decoder == "device"
    assert isinstance(got.image, torch.Tensor) and (got.width, got.height) == (want.width, want.height)
    pixels = host_pixels(got.image)
    assert isinstance(pixels, np.ndarray) and pixels.shape == want.image.shape
    assert host_pixels(want.image) is want.image
    with pytest.raises(PhotoError):
        on_device._decoder()(data[: len(data) // 2])


# ---- switch and profile --------------------------------------------------------------------------------------
def test_device_ops_switch() -> None:
    cfg = PodocrConfig()
    assert not device_ops_on(cfg)  # the CPU default
    assert not device_ops_on(cfg.replace(engine__backend="torch"))  # torch on the CPU: auto stays off
    assert device_ops_on(cfg.replace(engine__device_ops="on"))
    assert not device_ops_on(
        cfg.replace(engine__backend="torch", engine__provider="cuda", engine__device_ops="off")
    )
    cuda = cfg.replace(engine__backend="torch", engine__provider="cuda")
    assert device_ops_on(cuda) == torch.cuda.is_available()
    with pytest.raises(ConfigError, match="device_ops"):
        device_ops_on(cfg.replace(engine__device_ops="maybe"))


def test_profile_totals_and_merge(tmp_path) -> None:
    profile = DeviceProfile(CPU)
    for _ in range(3):
        with profile.stage("det.post"):
            sum(range(20000))
    profile.add_photos(2)
    written = profile.write(str(tmp_path))
    assert list(tmp_path.glob("device-profile-*.json")) == [written]
    summary = profile.summary()
    assert json.loads(written.read_text()) == summary
    assert summary["stages"]["det.post"]["calls"] == 3 and summary["stages"]["det.post"]["device_ms"] > 0
    merged = merge([summary, summary])
    assert merged["photos"] == 4 and merged["stages"]["det.post"]["calls"] == 6
    # the summaries carry milliseconds rounded to 0.001: allow that rounding, not a relative share of a tiny value
    assert merged["device_ms_per_photo"] == pytest.approx(
        summary["stages"]["det.post"]["device_ms"] / 2, abs=1e-3
    )


# ---- the whole read ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipelines():
    pytest.importorskip("onnx2torch")
    from podocr.ocr.pipeline import OcrPipeline
    from podocr.ocr.registry import ModelError, resolve

    cfg = PodocrConfig().replace(engine__intra_op_threads=1, engine__backend="torch")
    try:
        resolve(cfg.models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")
    host = OcrPipeline.from_config(cfg)
    device = OcrPipeline(
        cfg.replace(engine__device_ops="on"), host.parts
    )  # the same engines, the device read
    assert host.device is None and device.device is not None
    return host, device


def test_the_device_read_reads_what_the_host_read_reads(pipelines) -> None:
    host, device = pipelines
    photos = [render_photo(29, i, max_side=1600)[0] for i in range(3)]
    want, got = host.run(photos), device.run(photos)
    assert sum(len(p.lines) for p in want) > 30, (
        "the photos must hold text for this comparison to mean anything"
    )
    for i, (a, b) in enumerate(zip(want, got, strict=True)):
        assert (a.rotation, a.roi, a.width, a.height) == (b.rotation, b.roi, b.width, b.height), f"photo {i}"
        assert [line.text for line in a.lines] == [line.text for line in b.lines], f"photo {i}"
        for la, lb in zip(a.lines, b.lines, strict=True):
            np.testing.assert_allclose(lb.quad, la.quad, atol=2.0)
            assert abs(la.confidence - lb.confidence) < 0.02, (la.text, la.confidence, lb.confidence)
    info = device.info()["device_ops"]
    assert info["device"] == "cpu"
    stages = info["profile"]["stages"]
    for name in ("upload", "probe.resize", "probe_det.model", "det.post", "crop", "rec.ctc", "assemble"):
        assert stages[name]["calls"] > 0 and stages[name]["device_ms"] > 0, name


def test_the_device_read_takes_device_photos_and_isolates_bad_ones(pipelines) -> None:
    _, device = pipelines
    photo = render_photo(29, 0, max_side=1000)[0]
    out = device.run_safe([torch.from_numpy(photo), torch.zeros((4, 4), dtype=torch.uint8), photo])
    assert isinstance(out[1], ValueError)
    assert not isinstance(out[0], Exception) and not isinstance(out[2], Exception)
    assert [line.text for line in out[0].lines] == [line.text for line in out[2].lines]
