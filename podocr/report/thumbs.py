"""Annotated thumbnails for the report's gallery: the photo, shrunk to ≤ 320 px, with the boxes that were read.

Why draw here and not keep crops from the job: the job stores only text and quads (Parquet stays small); the
few photos worth a look are re-fetched through the same fsspec settings, which also proves `image_uri` still
points at the photo the analyst will open.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from podocr.config import IOConfig
from podocr.io.storage import ImageStore

THUMB_SIDE = 320
JPEG_QUALITY = 72


def confidence_color(confidence: float) -> str:
    """Green for confident lines, amber for doubtful ones, red for lines the reader should not trust."""
    if confidence >= 0.9:
        return "#2e9d4f"
    if confidence >= 0.7:
        return "#e08a1e"
    return "#d2312d"


def annotate(
    data: bytes,
    lines: Sequence[dict[str, Any]],
    width: int | None,
    height: int | None,
    side: int = THUMB_SIDE,
    max_pixels: int = 50_000_000,
) -> bytes:
    """JPEG bytes of the photo (EXIF-upright, long side ≤ `side`) with each line's quad outlined by confidence.

    Quads are in the upright photo's pixels (`width` × `height` as the job saw it); they are scaled to the
    thumbnail, so a photo re-encoded at another size since the run is still annotated in the right places.
    """
    with Image.open(io.BytesIO(data)) as img:
        if img.width * img.height > max_pixels:
            raise ValueError(f"{img.width}×{img.height} is over the {max_pixels:,}-pixel limit")
        w0, h0 = img.size
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF says rotate 90/270: upright sides swap
            w0, h0 = h0, w0
        img.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced scale, far faster for phone photos
        upright = ImageOps.exif_transpose(img)
        assert upright is not None  # exif_transpose returns an image unless in_place=True
        thumb = upright.convert("RGB")
    full_w, full_h = width or w0, height or h0
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    sx, sy = thumb.width / full_w, thumb.height / full_h
    draw = ImageDraw.Draw(thumb)
    for line in lines:
        quad = line.get("quad") or []
        if len(quad) < 3:
            continue
        points = [(float(p[0]) * sx, float(p[1]) * sy) for p in quad]
        draw.polygon(points, outline=confidence_color(float(line.get("confidence") or 0.0)), width=2)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def images_root_of(success: dict[str, Any], fallback: str | None = None) -> str | None:
    """Where the run resolved relative `image_uri`s: `_SUCCESS`'s record, else `fallback`, else the input root
    implied by the manifest's documented place (`{input}/manifests/date=D/manifest.*`)."""
    if success.get("images_root"):
        return str(success["images_root"])
    if fallback:
        return fallback
    manifest_uri = str((success.get("manifest") or {}).get("uri") or "")
    marker = manifest_uri.rfind("/manifests/date=")
    return manifest_uri[:marker] if marker > 0 else None


def image_store(io_cfg: IOConfig, images_root: str | None) -> ImageStore | None:
    """The job's `ImageStore` for these roots (same confinement, limits, retries), None if no root is known."""
    return ImageStore(io_cfg, images_root or "") if (images_root or io_cfg.images_roots) else None


def resolved(store: ImageStore | None, uri: str) -> str:
    """Where `uri` really is (for links), or `uri` itself when it cannot be resolved."""
    try:
        return store.resolve(uri) if store is not None else uri
    except Exception:
        return uri


def fetch_thumbnails(
    rows: Sequence[dict[str, Any]], io_cfg: IOConfig, store: ImageStore | None
) -> list[str | Exception]:
    """One `data:image/jpeg;base64,…` URI (or the exception that stopped it) per row, fetched concurrently.

    Each row gets `resolved_uri` (where the photo really is) for the report's link.
    """

    def one(row: dict[str, Any]) -> str | Exception:
        try:
            if store is None:
                raise ValueError("no images root known to resolve the photo (pass images_root)")
            row["resolved_uri"] = store.resolve(str(row["image_uri"]))
            data = store.read_bytes(row["resolved_uri"])
            jpeg = annotate(
                data,
                row.get("lines") or [],
                row.get("width"),
                row.get("height"),
                max_pixels=io_cfg.max_pixels,
            )
            return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        except Exception as exc:  # a missing/corrupt photo becomes a placeholder card, never a failed report
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(io_cfg.fetch_threads, len(rows) or 1))) as pool:
        return list(pool.map(one, rows))
