"""One output row per manifest row: the manifest's own columns, then either what was read or an error code.

Built as plain dicts keyed by the Parquet schema's names (`sink.rows_to_table` types them), so a photo that
fails at any step still gets exactly one row with the same identifying columns as one that was read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from podocr.io import sink
from podocr.io.errors import ErrorCode, PhotoError
from podocr.logs import redact
from podocr.ocr.clock import STAGES

_MESSAGE_CHARS = 500


class RowMaker:
    """Rows for one partition: `common` columns (run, models, worker) plus each manifest row's own."""

    def __init__(self, rows: list[dict[str, Any]], common: Mapping[str, Any]) -> None:
        self.rows = rows
        self.common = dict(common)

    def base(self, i: int) -> dict[str, Any]:
        row = self.rows[i]
        ids = {k: clean(row.get(k)) for k in ("delivery_id", "image_uri", *sink.EXPECTED)}
        return {**self.common, **ids}

    def error(
        self, i: int, code: ErrorCode, message: str, timings: Mapping[str, float] | None = None
    ) -> dict[str, Any]:
        return finish(
            self.base(i), timings or {}, status="error", error_code=str(code), error_message=message
        )

    def read(
        self, i: int, photo: Any, page: Any, extraction: Any, timings: dict[str, float]
    ) -> dict[str, Any]:
        """The row of a photo that was decoded and OCR'd: its lines, the fields extracted, stage timings."""
        lines = [
            {
                "text": ln.text,
                "confidence": float(ln.confidence),
                "quad": [[float(x), float(y)] for x, y in ln.quad],
            }
            for ln in page.lines
        ]
        for stage in STAGES:
            value = page.timings.get(stage, page.timings.get(f"{stage}_s"))
            if value is not None:
                timings[f"{stage}_s"] = float(value)
        confidences = [line["confidence"] for line in lines]
        row = self.base(i)
        row.update(
            image_sha256=photo.sha256,
            width=photo.width,
            height=photo.height,
            format=photo.format,
            exif_orientation=getattr(photo, "exif_orientation", None),
            lines=lines,
            full_text=page.full_text,
            n_lines=len(lines),
            mean_confidence=sum(confidences) / len(confidences) if confidences else None,
            rotation=page.rotation,
            roi=list(page.roi) if page.roi is not None else None,
            tracking_number=extraction.tracking_number,
            carrier=extraction.carrier,
            tracking_valid=extraction.tracking_valid,
            tracking_repaired=extraction.tracking_repaired,
            recipient_name=extraction.recipient_name,
            recipient_company=extraction.recipient_company,
            street=extraction.street,
            unit=extraction.unit,
            city=extraction.city,
            state=extraction.state,
            zip=extraction.zip,
            verification=extraction.verification,
            verification_reason=extraction.verification_reason,
            address_match_score=extraction.address_match_score,
            field_scores={k: float(v) for k, v in (extraction.field_scores or {}).items()},
            **{k: getattr(extraction, k) for k in sink.EXTRACTION_EXTRA},
        )
        return finish(row, timings, status="ok" if lines else "no_text")


def finish(row: dict[str, Any], timings: Mapping[str, float], **fields: Any) -> dict[str, Any]:
    row.update(fields)
    if row.get("error_message"):
        row["error_message"] = redact(str(row["error_message"]))[:_MESSAGE_CHARS]
    stages = {k: float(v) for k, v in timings.items() if k in sink.TIMINGS}
    row.update(stages)
    row["total_s"] = sum(stages.values()) if stages else None
    row["processed_at"] = dt.datetime.now(dt.UTC)
    return row


def describe(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, PhotoError) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def clean(value: Any) -> str | None:
    """Manifest cells as strings; pandas may hand us NaN/None/pd.NA for empty ones."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)
