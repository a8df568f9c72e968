"""decode_image on the bad-input corpus, all eight EXIF orientations, colour models, and random/mutated bytes."""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
import pytest
from badinput import (
    CARD_H,
    CARD_W,
    QUADRANTS_RGB,
    Case,
    card,
    corpus,
    encode,
    exif_bytes,
    noise,
    orientation_cases,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from podocr.config import IOConfig
from podocr.io.decode import FORMATS, DecodedImage, decode_image, sniff_format
from podocr.io.errors import ErrorCode, PhotoError

CFG = IOConfig()
CASES = corpus()


def _check_image(d: DecodedImage) -> None:
    assert d.image.dtype == np.uint8 and d.image.ndim == 3 and d.image.shape[2] == 3
    assert d.image.shape[:2] == (d.height, d.width)
    assert d.image.flags["C_CONTIGUOUS"]
    assert d.format in FORMATS


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(case: Case) -> None:
    if case.code is not None:
        with pytest.raises(PhotoError) as info:
            decode_image(case.data, CFG)
        assert info.value.code is case.code, info.value.message
        assert info.value.message
        return
    d = decode_image(case.data, CFG)
    _check_image(d)
    assert (d.format, (d.width, d.height)) == (case.format, case.size)
    assert d.sha256 == hashlib.sha256(case.data).hexdigest()


def _by_name(name: str) -> bytes:
    return next(c.data for c in CASES if c.name == name)


def test_unsupported_formats_say_what_the_file_is() -> None:
    messages = {}
    for name in ("html_error_page_as_jpg", "heic_ftyp", "avif_ftyp", "pdf", "plain_text"):
        with pytest.raises(PhotoError) as info:
            decode_image(_by_name(name), CFG)
        messages[name] = info.value.message
    assert "HTML" in messages["html_error_page_as_jpg"]
    assert "HEIC" in messages["heic_ftyp"]
    assert "AVIF" in messages["avif_ftyp"]
    assert "PDF" in messages["pdf"]
    assert "text" in messages["plain_text"]


def test_truncated_jpeg_is_a_failure_not_a_grey_picture() -> None:
    with pytest.raises(PhotoError, match="end-of-image"):
        decode_image(_by_name("truncated_jpeg_last_bytes"), CFG)


def test_colour_models_come_out_as_expected_bgr() -> None:
    px = {name: decode_image(_by_name(name), CFG).image for name in ("png_rgba_transparent", "cmyk_jpeg")}
    assert (px["png_rgba_transparent"] == 255).all()  # transparent → white, not black
    b, g, r = px["cmyk_jpeg"][6, 8].tolist()  # CMYK (0,255,255,0) is red
    assert r > 230 and g < 25 and b < 25
    grey16 = decode_image(_by_name("png_16bit_grey"), CFG).image
    assert (grey16 == round(40000 / 257)).all()
    assert (decode_image(_by_name("tiff_16bit_grey"), CFG).image == round(40000 / 257)).all()
    gif = decode_image(_by_name("gif_animated_first_frame"), CFG).image
    assert gif[0, 0].tolist() == [0, 0, 255]  # the first frame (red), not the second
    for name in ("png_palette", "webp", "tiff", "bmp"):
        _assert_card(decode_image(_by_name(name), CFG).image, tol=0)


def test_half_transparent_pixels_are_composited_on_white() -> None:
    im = Image.new("RGBA", (4, 4), (0, 0, 255, 128))  # half-opaque blue
    d = decode_image(encode(im, "PNG"), CFG)
    assert d.image[0, 0].tolist() == [255, 127, 127]  # BGR: blue at half over white


def _assert_card(bgr: np.ndarray, tol: int) -> None:
    """The upright test card: each quadrant's centre has its colour (BGR), within `tol` per channel."""
    assert bgr.shape == (CARD_H, CARD_W, 3)
    h4, w4 = CARD_H // 4, CARD_W // 4
    centres = {"tl": (h4, w4), "tr": (h4, 3 * w4), "bl": (3 * h4, w4), "br": (3 * h4, 3 * w4)}
    for quadrant, (y, x) in centres.items():
        got = bgr[y, x].astype(int)
        want = np.array(QUADRANTS_RGB[quadrant][::-1])
        assert np.abs(got - want).max() <= tol, (quadrant, got.tolist(), want.tolist())


@pytest.mark.parametrize(("orientation", "fmt", "data"), orientation_cases(), ids=lambda v: str(v)[:12])
def test_exif_orientation_all_eight(orientation: int, fmt: str, data: bytes) -> None:
    d = decode_image(data, CFG)
    assert d.exif_orientation == orientation
    assert (d.width, d.height) == (CARD_W, CARD_H)
    _assert_card(d.image, tol=0 if fmt == "PNG" else 12)


@pytest.mark.parametrize("orientation", [0, 9, 255])
def test_invalid_orientation_values_are_ignored(orientation: int) -> None:
    d = decode_image(encode(card(), "JPEG", quality=95, exif=exif_bytes(orientation)), CFG)
    assert d.exif_orientation == 1
    _assert_card(d.image, tol=12)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corrupt_exif_does_not_fail_the_photo() -> None:
    d = decode_image(encode(card(), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff"), CFG)
    assert d.exif_orientation == 1
    _assert_card(d.image, tol=12)


def test_pixel_and_side_limits_are_exact() -> None:
    data = encode(noise(64, 48), "PNG")
    assert decode_image(data, IOConfig(max_pixels=64 * 48)).width == 64
    assert decode_image(data, IOConfig(max_side=64)).width == 64
    with pytest.raises(PhotoError) as info:
        decode_image(data, IOConfig(max_side=63))
    assert info.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(PhotoError) as info:
        decode_image(data, IOConfig(max_pixels=1000))  # over 2×: PIL's own guard fires, same code
    assert info.value.code is ErrorCode.TOO_LARGE
    assert Image.MAX_IMAGE_PIXELS == 1000  # PIL's limit follows io.max_pixels


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixels_just_over_the_limit() -> None:
    data = encode(noise(64, 48), "PNG")
    with pytest.raises(PhotoError) as info:
        decode_image(data, IOConfig(max_pixels=64 * 48 - 1))
    assert info.value.code is ErrorCode.TOO_LARGE and "max_pixels" in info.value.message


def test_bytes_over_the_limit() -> None:
    data = encode(noise(64, 48), "PNG")
    with pytest.raises(PhotoError) as info:
        decode_image(data, IOConfig(max_bytes=len(data) - 1))
    assert info.value.code is ErrorCode.TOO_LARGE


def test_progressive_jpeg_scan_limit() -> None:
    data = encode(noise(32, 32), "JPEG", progressive=True)
    assert decode_image(data, CFG).format == "jpeg"
    with pytest.raises(PhotoError, match="scans") as info:
        decode_image(data, IOConfig(max_jpeg_scans=2))
    assert info.value.code is ErrorCode.DECODE_FAILED


def test_exif_thumbnail_eoi_does_not_hide_truncation() -> None:
    """A JPEG whose EXIF block embeds a thumbnail (with its own FFD9) is still truncated if the main is."""
    thumb = encode(noise(8, 8), "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 1
    main = encode(noise(64, 48, seed=3), "JPEG", exif=exif.tobytes() + thumb)
    assert decode_image(main, CFG).width == 64
    with pytest.raises(PhotoError) as info:
        decode_image(main[:-2], CFG)
    assert info.value.code is ErrorCode.DECODE_FAILED


def test_sniff_ignores_extensions_and_pil_agrees() -> None:
    for case in CASES:
        if case.code is None:
            assert sniff_format(case.data) == case.format
            pil_format = Image.open(io.BytesIO(case.data)).format
            assert pil_format is not None and pil_format.lower() in (case.format, "mpo")


# ---- properties: hostile bytes never escape as anything but PhotoError ------------------------------------
_VALID = [c.data for c in CASES if c.code is None]


def _outcome(data: bytes) -> None:
    try:
        d = decode_image(data, CFG)
    except PhotoError as exc:
        assert isinstance(exc.code, ErrorCode)
        return
    _check_image(d)


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about the corrupt metadata it skips
@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    _outcome(data)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=400, deadline=None)
@given(
    base=st.sampled_from(_VALID),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=6),
)
def test_mutated_images_never_raise_anything_else(
    base: bytes, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(base[: max(1, int(len(base) * cut))] if cut < 0.98 else base)
    for where, xor in flips:
        data[min(len(data) - 1, int(len(data) * where))] ^= xor
    _outcome(bytes(data))


def test_decoded_image_matches_opencv_for_plain_jpeg() -> None:
    data = _by_name("jpeg")
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert ref is not None
    assert np.array_equal(decode_image(data, CFG).image, ref)
