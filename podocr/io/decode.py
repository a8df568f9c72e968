"""Photo bytes → an upright BGR image, or a PhotoError that says exactly what was wrong with the file.

Everything here treats the bytes as hostile: phones, apps and upload proxies deliver HEIC, HTML error pages
saved as `.jpg`, half-uploaded files and the odd decompression bomb. The order is what keeps a worker alive:

1. sniff the magic bytes (extensions lie) — anything we do not decode is UNSUPPORTED_FORMAT, with the reason;
2. read only the header (PIL opens lazily) and reject over `io.max_pixels`/`io.max_side` as TOO_LARGE
   before a single pixel buffer is allocated — a 20000×20000 header in a 1 KB file costs nothing;
3. check the file is complete: a JPEG needs its end-of-image marker after the scan data (libjpeg would
   otherwise return a half-grey picture for a cut-off upload, and OCR would read garbage without
   complaint), a PNG its IEND chunk, a WebP the length its RIFF header promises — else DECODE_FAILED;
4. decode: OpenCV for JPEG/PNG/WebP (fast), PIL for TIFF/GIF (first frame)/BMP; greyscale, palette,
   16-bit and CMYK become 8-bit BGR, and alpha is composited on white (labels are dark on light);
5. apply the EXIF orientation ourselves (OpenCV is told to ignore it) so all eight cases are ours and tested.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np
from PIL import Image

from podocr.config import IOConfig
from podocr.io.errors import ErrorCode, PhotoError

FORMATS = ("jpeg", "png", "webp", "tiff", "gif", "bmp")
_PIL_FORMATS = {
    "jpeg": ["JPEG", "MPO"],
    "png": ["PNG"],
    "webp": ["WEBP"],
    "tiff": ["TIFF"],
    "gif": ["GIF"],
    "bmp": ["BMP"],
}
_CV2_FORMATS = ("jpeg", "png", "webp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # length 0, type, CRC: the same 12 bytes in every PNG
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)
_ORIENTATION_TAG = 0x0112
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

T = TypeVar("T")


@dataclass
class DecodedImage:
    image: np.ndarray = field(repr=False)  # BGR uint8, H×W×3, C-contiguous, upright (orientation applied)
    width: int  # after orientation
    height: int
    format: str  # one of FORMATS, from the magic bytes
    sha256: str  # of the input bytes: identifies the photo in results and caches
    exif_orientation: int  # the EXIF tag as read (1 when absent or invalid); already applied to `image`


@dataclass
class Header:
    """What steps 1–3 learn before any pixel is decoded: the format, the stored size, the EXIF orientation."""

    format: str
    width: int  # as stored (before orientation)
    height: int
    orientation: int
    pil: Image.Image = field(repr=False)  # opened lazily: nothing decoded yet


def read_header(data: bytes, io_cfg: IOConfig) -> Header:
    """Steps 1–3 and the orientation tag; raises PhotoError like `decode_image` (the device decoder's checks too)."""
    if not data:
        raise PhotoError(ErrorCode.EMPTY_FILE, "zero bytes")
    if len(data) > io_cfg.max_bytes:
        raise PhotoError(ErrorCode.TOO_LARGE, f"{len(data)} bytes > io.max_bytes {io_cfg.max_bytes}")
    fmt = sniff_format(data)
    # PIL's own bomb guard agrees with ours: it raises at 2× max_pixels on open, we reject from 1× below.
    Image.MAX_IMAGE_PIXELS = io_cfg.max_pixels
    pil = _guard(fmt, "header", lambda: Image.open(io.BytesIO(data), formats=_PIL_FORMATS[fmt]))
    width, height = pil.size
    check_dimensions(width, height, io_cfg)
    _check_complete(data, fmt, io_cfg)
    return Header(fmt, width, height, _exif_orientation(pil, fmt), pil)


def decode_image(data: bytes, io_cfg: IOConfig) -> DecodedImage:
    """Decode one photo; raises only PhotoError (EMPTY_FILE, TOO_LARGE, UNSUPPORTED_FORMAT, DECODE_FAILED)."""
    data = bytes(data)
    header = read_header(data, io_cfg)
    fmt, width, height, orientation = header.format, header.width, header.height, header.orientation
    pil = header.pil
    if fmt in _CV2_FORMATS:
        bgr = _guard(fmt, "decode", lambda: _decode_cv2(data))
    else:
        bgr = _guard(fmt, "decode", lambda: _decode_pil(pil))
    if bgr.shape[:2] != (height, width):
        raise PhotoError(
            ErrorCode.DECODE_FAILED,
            f"{fmt}: decoded {bgr.shape[1]}×{bgr.shape[0]} but the header says {width}×{height}",
        )
    upright = np.ascontiguousarray(apply_orientation(bgr, orientation))
    return DecodedImage(
        image=upright,
        width=int(upright.shape[1]),
        height=int(upright.shape[0]),
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        exif_orientation=orientation,
    )


def sniff_format(data: bytes) -> str:
    """The image format from the magic bytes, or PhotoError(UNSUPPORTED_FORMAT) naming what the file is."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    raise PhotoError(ErrorCode.UNSUPPORTED_FORMAT, _describe_unsupported(data))


def check_dimensions(width: int, height: int, io_cfg: IOConfig) -> None:
    """TOO_LARGE over the pixel/side limits (decompression bombs), DECODE_FAILED for an empty image."""
    if width <= 0 or height <= 0:
        raise PhotoError(ErrorCode.DECODE_FAILED, f"header says {width}×{height}")
    if width > io_cfg.max_side or height > io_cfg.max_side:
        raise PhotoError(
            ErrorCode.TOO_LARGE, f"{width}×{height}: a side exceeds io.max_side {io_cfg.max_side}"
        )
    if width * height > io_cfg.max_pixels:
        raise PhotoError(
            ErrorCode.TOO_LARGE,
            f"{width}×{height} = {width * height} pixels > io.max_pixels {io_cfg.max_pixels}",
        )


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image upright per its EXIF orientation (1–8; anything else is left alone)."""
    if orientation == 2:
        return cv2.flip(image, 1)  # mirrored left-right
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)  # mirrored top-bottom
    if orientation == 5:
        return cv2.transpose(image)  # mirrored about the main diagonal
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)  # mirrored about the anti-diagonal
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


# ---- steps ------------------------------------------------------------------------------------------------
def _guard(fmt: str, step: str, call: Callable[[], T]) -> T:
    """Run a PIL/OpenCV call on untrusted bytes; whatever it raises becomes a PhotoError, never a crash."""
    try:
        return call()
    except PhotoError:
        raise
    except Image.DecompressionBombError as exc:
        raise PhotoError(ErrorCode.TOO_LARGE, f"{fmt} header over 2× io.max_pixels: {exc}") from None
    except Image.UnidentifiedImageError:
        raise PhotoError(ErrorCode.DECODE_FAILED, f"{fmt} {step}: not a readable {fmt} file") from None
    except (
        Exception
    ) as exc:  # parsers of hostile input raise anything (SyntaxError, struct.error, cv2.error…)
        raise PhotoError(
            ErrorCode.DECODE_FAILED, f"{fmt} {step}: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def _check_complete(data: bytes, fmt: str, io_cfg: IOConfig) -> None:
    """Cut-off uploads fail here rather than decode to a partly grey image."""
    if fmt == "jpeg":
        _check_jpeg(data, io_cfg.max_jpeg_scans)
    elif fmt == "png" and data.rfind(_PNG_IEND) < 0:
        raise PhotoError(ErrorCode.DECODE_FAILED, "truncated PNG: no IEND chunk")
    elif fmt == "webp":
        promised = 8 + int.from_bytes(data[4:8], "little")
        if len(data) < promised:
            raise PhotoError(ErrorCode.DECODE_FAILED, f"truncated WebP: {len(data)} of {promised} bytes")


def _check_jpeg(data: bytes, max_scans: int) -> None:
    """Walk the marker segments to the first scan, then require an EOI after it; count the scans.

    Inside entropy-coded data every 0xFF is followed by 0x00 or a restart marker, so FFD9/FFDA found after
    the first SOS are real markers. An EOI inside an EXIF thumbnail comes before the SOS and does not count.
    """
    pos, n = 2, len(data)
    while True:
        if pos + 4 > n:
            raise PhotoError(ErrorCode.DECODE_FAILED, "truncated JPEG: ends inside the headers")
        if data[pos] != 0xFF:
            raise PhotoError(ErrorCode.DECODE_FAILED, f"corrupt JPEG: no marker at offset {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            raise PhotoError(ErrorCode.DECODE_FAILED, "corrupt JPEG: end-of-image before any image data")
        if marker == 0xDA:
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            raise PhotoError(
                ErrorCode.DECODE_FAILED, f"corrupt JPEG: segment length {length} at offset {pos}"
            )
        pos += 2 + length
    eoi = data.find(b"\xff\xd9", pos)
    if eoi < 0:
        raise PhotoError(
            ErrorCode.DECODE_FAILED, "truncated JPEG: no end-of-image marker after the image data"
        )
    scans = data.count(b"\xff\xda", pos, eoi)
    if scans > max_scans:
        raise PhotoError(ErrorCode.DECODE_FAILED, f"JPEG with {scans} scans > io.max_jpeg_scans {max_scans}")


def _exif_orientation(pil: Image.Image, fmt: str) -> int:
    """The EXIF orientation tag, or 1. Broken metadata must never fail a photo whose pixels are fine."""
    try:
        if fmt == "png":
            # PIL's PNG getexif() decodes the whole image to look for a late eXIf chunk; the header's is enough.
            raw = pil.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = pil.getexif()
        value = exif.get(_ORIENTATION_TAG, 1)
    except Exception:  # any parse error in the metadata: treat as absent
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode_cv2(data: bytes) -> np.ndarray:
    # IMREAD_UNCHANGED: keep alpha and 16 bits for us to handle, and never apply EXIF orientation.
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("OpenCV could not decode the image data")
    if img.dtype == np.uint16:
        img = _to_8bit(img)
    elif img.dtype != np.uint8:
        raise ValueError(f"unexpected sample type {img.dtype}")
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return _on_white(img[..., :3], img[..., 3])
    return img


def _decode_pil(pil: Image.Image) -> np.ndarray:
    pil.load()  # the first frame only (GIF, multi-page TIFF)
    mode = pil.mode
    if mode.startswith("I"):  # 16/32-bit integer greyscale (TIFF): read as 16-bit
        return cv2.cvtColor(_to_8bit(np.clip(np.asarray(pil), 0, 65535)), cv2.COLOR_GRAY2BGR)
    if mode == "F":
        return cv2.cvtColor(np.clip(np.asarray(pil), 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if "A" in pil.getbands() or "a" in pil.getbands() or "transparency" in pil.info:
        rgba = np.asarray(pil.convert("RGBA"))
        return _on_white(cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR), rgba[..., 3])
    if mode == "L":
        return cv2.cvtColor(np.asarray(pil), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.asarray(pil.convert("RGB")), cv2.COLOR_RGB2BGR)


def _to_8bit(img: np.ndarray) -> np.ndarray:
    """16-bit samples to 8-bit, rounding (65535 → 255, 257 → 1)."""
    return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _on_white(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite on white in integer arithmetic: c·a + 255·(255−a) ≤ 65025 fits uint16, no float copies."""
    a = alpha[..., None].astype(np.uint16)
    out = (bgr.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _describe_unsupported(data: bytes) -> str:
    """A specific reason for bytes that are not an image we decode; the error row is what operators read."""
    if data[4:8] == b"ftyp":
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(len(data), 64), 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF image: not supported; have the app upload JPEG"
        if brands & _HEIF_BRANDS:
            return "HEIC/HEIF image (iPhone default): not supported; have the app upload JPEG"
        return f"ISO media container ({data[8:12].decode('latin-1')!r}: video?), not a photo"
    if data.startswith(b"%PDF"):
        return "PDF document, not an image"
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        return "BigTIFF: not supported"
    if data.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "JPEG XL: not supported"
    if data.startswith(b"\x00\x00\x00\x0cjP  "):
        return "JPEG 2000: not supported"
    if data.startswith(b"8BPS"):
        return "Photoshop document, not a photo"
    if data.startswith((b"PK\x03\x04", b"\x1f\x8b")):
        return "ZIP/gzip archive, not an image"
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "HTML page (an error page saved as an image?)"
    if text.startswith((b"<?xml", b"<svg")):
        return "XML/SVG document, not a raster image"
    if text.startswith((b"{", b"[")):
        return "JSON text, not an image"
    if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text[:256]):
        return "plain text, not an image"
    return f"unrecognised file signature {data[:8].hex()}"
