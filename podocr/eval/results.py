"""What a system predicted for each photo, from the live pipeline or from a results file (JSONL or Parquet).

Scoring only needs the text lines, the extracted fields and the verification verdict, so every source is
reduced to `Prediction`; a results file lets `podocr eval` score any OCR system, or a finished `podocr batch`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from podocr.eval.dataset import FIELDS, EvalError, quad_or_none
from podocr.types import Extraction, PageResult, Quad


class ResultsError(EvalError):
    """A results file that cannot be read; the message names the file and line."""


@dataclass(slots=True)
class Prediction:
    id: str
    lines: list[str]
    fields: dict[str, str | None] | None = None  # None: no extraction ran, so extraction metrics skip it
    verification: str | None = None
    error: str | None = None  # why nothing was read (decode/OCR failure, missing from the results file)
    mismatch_kind: str | None = None
    tracking_numbers: list[str] = field(default_factory=list)  # every number the extraction kept
    tracking_source: str | None = None
    quads: list[Quad] | None = None  # parallel to `lines` (photo px); None: no geometry, so no miss causes
    rejected: list[Quad] = field(default_factory=list)  # boxes detected but not kept as lines (blank, unsure)


def from_pipeline(sid: str, page: PageResult, extraction: Extraction | None) -> Prediction:
    quads = [list(line.quad) for line in page.lines]
    rejected = [list(line.quad) for line in page.rejected]
    if extraction is None:
        return Prediction(id=sid, lines=[line.text for line in page.lines], quads=quads, rejected=rejected)
    names = {f.name for f in fields(Extraction)}
    extracted = {k: getattr(extraction, k) for k in FIELDS if k in names}
    return Prediction(
        id=sid,
        lines=[line.text for line in page.lines],
        quads=quads,
        rejected=rejected,
        fields=extracted,
        verification=extraction.verification,
        mismatch_kind=extraction.mismatch_kind,
        tracking_numbers=[n["number"] for n in extraction.tracking_numbers],
        tracking_source=extraction.tracking_source,
    )


def missing(sid: str, reason: str, with_extraction: bool) -> Prediction:
    """A photo the system produced nothing for: scored as read nothing, extracted nothing, verdict unreadable."""
    return Prediction(id=sid, lines=[], fields={} if with_extraction else None, error=reason)


def load_results(path: str | Path) -> dict[str, Prediction]:
    """Predictions by photo id from a JSONL file, a Parquet file, or a folder of Parquet (podocr batch output).

    JSONL: one object per photo, `{"id" | "delivery_id", "lines": [{"text": ...} | "text", ...],
    "fields"?: {tracking_number, zip, ...}, "verification"?: ...}` (`verification` may also sit in `fields`).
    Parquet: podocr's schema (docs/schema.md): `delivery_id`, `lines` (list of structs with `text`), the
    extracted columns `tracking_number`, `recipient_name`, … `zip`, `verification`, `status`, `error_code`.
    """
    path = Path(path)
    if path.is_dir() or path.suffix == ".parquet":
        return _from_parquet(path)
    return _from_jsonl(path)


def _from_jsonl(path: Path) -> dict[str, Prediction]:
    out: dict[str, Prediction] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ResultsError(f"{path}:{lineno}: not JSON ({exc})") from exc
            sid = rec.get("id", rec.get("delivery_id")) if isinstance(rec, dict) else None
            if sid in (None, ""):
                raise ResultsError(f"{path}:{lineno}: a result needs an 'id' (or 'delivery_id')")
            raw_fields = rec.get("fields")
            extracted = None
            if isinstance(raw_fields, dict):
                extracted = {k: _str_or_none(raw_fields.get(k)) for k in FIELDS}
            verification = rec.get("verification", (raw_fields or {}).get("verification"))
            out[str(sid)] = Prediction(
                id=str(sid),
                lines=_line_texts(rec.get("lines")),
                fields=extracted,
                verification=_str_or_none(verification),
                error=_str_or_none(rec.get("error")),
                quads=_line_quads(rec.get("lines")),
                rejected=[q for q in (_line_quads(rec.get("rejected")) or []) if q],
            )
    return out


def _from_parquet(path: Path) -> dict[str, Prediction]:
    import pyarrow.dataset as pads

    try:
        table = pads.dataset(str(path), format="parquet", partitioning="hive").to_table()
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read as Parquet ({exc})") from exc
    names = set(table.column_names)
    if "delivery_id" not in names:
        raise ResultsError(f"{path}: no 'delivery_id' column (columns: {sorted(names)})")
    has_fields = any(k in names for k in FIELDS) or "extracted" in names
    out: dict[str, Prediction] = {}
    for row in table.to_pylist():
        sid = str(row["delivery_id"])
        extracted: dict[str, str | None] | None = None
        if has_fields:
            source = row.get("extracted") if isinstance(row.get("extracted"), dict) else row
            extracted = {k: _str_or_none(source.get(k)) for k in FIELDS}
        error = None
        if row.get("status") == "error":
            error = f"{row.get('error_code')}: {row.get('error_message')}"
        out[sid] = Prediction(
            id=sid,
            lines=_line_texts(row.get("lines")),
            fields=extracted,
            verification=_str_or_none(row.get("verification")),
            error=error,
            quads=_line_quads(row.get("lines")),
        )
    return out


def _line_texts(lines: Iterable[Any] | None) -> list[str]:
    out = []
    for line in lines or []:
        text = line.get("text") if isinstance(line, Mapping) else line
        if isinstance(text, str):
            out.append(text)
    return out


def _line_quads(lines: Iterable[Any] | None) -> list[Quad] | None:
    """The `quad` of each line `_line_texts` keeps, or None when any of them has none (no geometry)."""
    out = []
    for line in lines or []:
        if isinstance(line, Mapping) and isinstance(line.get("text"), str):
            quad = quad_or_none(line.get("quad"))
            if quad is None:
                return None
            out.append(quad)
        elif isinstance(line, str):
            return None
    return out


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
