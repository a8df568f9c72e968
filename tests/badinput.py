"""A bad-input corpus for the photo reader, generated in code at test time (a few KB in all, nothing on disk).

Each `Case` is bytes plus what reading them must give: a specific error code, or a correct read with the
expected format and upright size. The corpus covers what a million phone uploads a day actually contain —
broken, disguised, oversized and unusual-but-valid files — and `orientation_cases` covers all eight EXIF
orientations with an asymmetric test card whose upright appearance is known.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from podocr.io.errors import ErrorCode

# Upright test card: four quadrants of distinct colours (RGB), wider than tall, so any wrong flip, rotation
# or width/height swap changes which colour sits where.
QUADRANTS_RGB = {"tl": (220, 30, 30), "tr": (30, 200, 30), "bl": (30, 30, 220), "br": (240, 240, 40)}
CARD_W, CARD_H = 48, 32


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    code: ErrorCode | None = None  # expected PhotoError code; None = must read correctly
    format: str = ""  # expected DecodedImage.format for a correct read
    size: tuple[int, int] = (0, 0)  # expected (width, height) for a correct read


def encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    bio = io.BytesIO()
    im.save(bio, fmt, **kwargs)
    return bio.getvalue()


def card() -> Image.Image:
    """The upright test card."""
    arr = np.zeros((CARD_H, CARD_W, 3), np.uint8)
    h2, w2 = CARD_H // 2, CARD_W // 2
    arr[:h2, :w2] = QUADRANTS_RGB["tl"]
    arr[:h2, w2:] = QUADRANTS_RGB["tr"]
    arr[h2:, :w2] = QUADRANTS_RGB["bl"]
    arr[h2:, w2:] = QUADRANTS_RGB["br"]
    return Image.fromarray(arr, "RGB")


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    """Incompressible pixels, so encoded files are big enough to cut in meaningful places."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8), "RGB")


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# What a display does for each orientation tag, expressed as PIL ops on the stored image; the inverse makes
# the stored image from the upright one. (5 and 7 are their own inverses; 6 and 8 are each other's.)
_INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # stored turned 90° counter-clockwise; display turns it clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def stored_for(orientation: int, fmt: str = "PNG") -> bytes:
    """The test card as a camera would store it with this orientation tag (upright once the tag is applied)."""
    op = _INVERSE[orientation]
    im = card() if op is None else card().transpose(op)
    # Cross-check the table against PIL's own reading of the tag, so the corpus cannot be wrong silently.
    tagged = Image.open(io.BytesIO(encode(im, "PNG", exif=exif_bytes(orientation))))
    assert np.array_equal(np.asarray(ImageOps.exif_transpose(tagged).convert("RGB")), np.asarray(card()))
    kwargs: dict[str, object] = {"exif": exif_bytes(orientation)}
    if fmt == "JPEG":
        kwargs["quality"] = 95
    return encode(im, fmt, **kwargs)


def png_header_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG whose header claims width×height with one tiny IDAT: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_sof_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A small real JPEG with its frame header (SOF0) patched to claim width×height."""
    data = bytearray(encode(noise(16, 16), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def heic_like() -> bytes:
    """The start of an iPhone HEIC: an ISO-BMFF `ftyp` box with brand heic."""
    ftyp = b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return struct.pack(">I", 8 + len(ftyp) - 4) + ftyp + b"\x00" * 64


def avif_like() -> bytes:
    ftyp = b"ftypavif" + b"\x00\x00\x00\x00" + b"avifmif1miaf"
    return struct.pack(">I", 8 + len(ftyp) - 4) + ftyp + b"\x00" * 64


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The upload proxy could not reach the server.</p></body></html>\n"
)


def corpus() -> list[Case]:
    """Every bad or unusual input with its required outcome."""
    jpeg = encode(noise(64, 48), "JPEG", quality=90)
    png = encode(noise(64, 48), "PNG")
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))  # fully transparent black: must come out white
    palette = card().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    grey16 = Image.fromarray(np.full((12, 10), 40000, np.uint16))
    cmyk = Image.new("CMYK", (16, 12), (0, 255, 255, 0))  # pure red in CMYK
    frames = [Image.new("RGB", (8, 6), c) for c in ((255, 0, 0), (0, 255, 0))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    ok = ErrorCode
    return [
        # storage-level shapes that reach decode
        Case("zero_bytes", b"", ok.EMPTY_FILE),
        Case("truncated_jpeg_half", jpeg[: len(jpeg) // 2], ok.DECODE_FAILED),
        Case("truncated_jpeg_last_bytes", jpeg[:-3], ok.DECODE_FAILED),
        Case("truncated_jpeg_headers_only", jpeg[:200], ok.DECODE_FAILED),
        Case("truncated_png_half", png[: len(png) // 2], ok.DECODE_FAILED),
        Case("truncated_png_no_iend", png[:-12], ok.DECODE_FAILED),
        Case("signature_only_png", png[:8], ok.DECODE_FAILED),
        Case(
            "corrupt_png_idat",
            png[:100] + bytes(b ^ 0x5A for b in png[100:400]) + png[400:],
            ok.DECODE_FAILED,
        ),
        # not images (or not ones we decode), whatever their name says
        Case("html_error_page_as_jpg", HTML_ERROR_PAGE, ok.UNSUPPORTED_FORMAT),
        Case("plain_text", b"Access Denied\n", ok.UNSUPPORTED_FORMAT),
        Case("heic_ftyp", heic_like(), ok.UNSUPPORTED_FORMAT),
        Case("avif_ftyp", avif_like(), ok.UNSUPPORTED_FORMAT),
        Case("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", ok.UNSUPPORTED_FORMAT),
        Case(
            "random_bytes",
            bytes(np.random.default_rng(1).integers(0, 256, 512, np.uint8)),
            ok.UNSUPPORTED_FORMAT,
        ),
        # decompression bombs: huge headers, tiny files
        Case("png_header_bomb_20000", png_header_bomb(), ok.TOO_LARGE),
        Case("jpeg_sof_bomb_20000", jpeg_sof_bomb(), ok.TOO_LARGE),
        Case("png_one_side_too_long", png_header_bomb(13_000, 10), ok.TOO_LARGE),
        # valid files in every format and colour model, including the wrong-extension case
        Case("jpeg", jpeg, None, "jpeg", (64, 48)),
        Case("png_saved_as_jpg", png, None, "png", (64, 48)),
        Case("webp", encode(card(), "WEBP", lossless=True), None, "webp", (CARD_W, CARD_H)),
        Case("tiff", encode(card(), "TIFF"), None, "tiff", (CARD_W, CARD_H)),
        Case("gif_animated_first_frame", gif, None, "gif", (8, 6)),
        Case("bmp", encode(card(), "BMP"), None, "bmp", (CARD_W, CARD_H)),
        Case("cmyk_jpeg", encode(cmyk, "JPEG", quality=95), None, "jpeg", (16, 12)),
        Case("png_16bit_grey", encode(grey16, "PNG"), None, "png", (10, 12)),
        Case("tiff_16bit_grey", encode(grey16, "TIFF"), None, "tiff", (10, 12)),
        Case("png_rgba_transparent", encode(rgba, "PNG"), None, "png", (20, 10)),
        Case("png_palette", encode(palette, "PNG"), None, "png", (CARD_W, CARD_H)),
        Case("png_grey", encode(card().convert("L"), "PNG"), None, "png", (CARD_W, CARD_H)),
        Case("jpeg_grey", encode(card().convert("L"), "JPEG"), None, "jpeg", (CARD_W, CARD_H)),
        Case("png_grey_alpha", encode(card().convert("LA"), "PNG"), None, "png", (CARD_W, CARD_H)),
        Case("one_pixel_jpeg", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "JPEG"), None, "jpeg", (1, 1)),
        Case("one_pixel_png", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), None, "png", (1, 1)),
    ]


def orientation_cases() -> list[tuple[int, str, bytes]]:
    """(orientation, PIL format, stored bytes) for tags 1–8 in JPEG and PNG."""
    return [(o, fmt, stored_for(o, fmt)) for o in range(1, 9) for fmt in ("JPEG", "PNG")]
