"""Read a labelled folder (`labels.jsonl` + optional `manifest.csv`) into typed samples.

The format is the synthetic generator's (docs/synth.md), but folders labelled by hand or by other tools must
score too, so every key except `id` is optional and missing ones fall back to neutral values.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podocr.synth.render import LABEL_FIELDS
from podocr.types import Quad

LABELS = "labels.jsonl"
MANIFEST = "manifest.csv"
FIELDS = LABEL_FIELDS


class EvalError(ValueError):
    """An evaluation that cannot run (bad folder, bad results file, models missing); the message says why."""


class DatasetError(EvalError):
    """The folder cannot be scored; the message names the file and line."""


@dataclass(slots=True)
class Sample:
    """One labelled photo."""

    id: str
    image: Path
    carrier: str  # ups | fedex | usps | amazon | none (no label) | unknown
    has_label: bool  # False for no-label photos and hard negatives
    lines: list[str] = field(default_factory=list)  # GT line texts, in file order
    distractors: list[str] = field(default_factory=list)  # other real text in the photo (box print, floor)
    roles: list[str] = field(default_factory=list)  # parallel to `lines`
    polys: list[Quad | None] = field(default_factory=list)  # parallel to `lines`: photo px, None if not given
    fields: dict[str, str] = field(default_factory=dict)  # only non-empty GT fields
    condition: dict[str, Any] = field(default_factory=dict)
    expected_matches: bool | None = None  # None: unknown (verification is not scored for this photo)
    expected: dict[str, str] | None = None  # the manifest row for this delivery, if any
    width: int | None = None
    height: int | None = None
    mismatch_kind: str | None = (
        None  # other_parcel | address_differs | recipient_differs | None (as expected)
    )
    layout: str = "standard"  # standard | hybrid (consolidator label: two address blocks, two numbers)


def load_dataset(root: str | Path, limit: int | None = None) -> list[Sample]:
    """Samples in `labels.jsonl` order (the first `limit` of them), joined to `manifest.csv` by delivery_id."""
    root = Path(root)
    labels = root / LABELS
    if not labels.is_file():
        raise DatasetError(f"{labels}: not found (expected one JSON object per photo)")
    manifest = _read_manifest(root / MANIFEST)
    samples: list[Sample] = []
    with labels.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            if limit is not None and len(samples) >= limit:
                break
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{labels}:{lineno}: not JSON ({exc})") from exc
            if not isinstance(rec, dict) or rec.get("id") in (None, ""):
                raise DatasetError(f"{labels}:{lineno}: a photo record needs an 'id'")
            samples.append(_sample(root, rec, manifest))
    return samples


def _sample(root: Path, rec: Mapping[str, Any], manifest: Mapping[str, dict[str, str]]) -> Sample:
    sid = str(rec["id"])
    row = manifest.get(sid)
    condition = _dict(rec.get("condition"))
    items = _text_items(rec.get("lines"))
    lines, roles, polys = [t for t, _, _ in items], [r for _, r, _ in items], [p for _, _, p in items]
    distractors = [t for t, _, _ in _text_items(rec.get("distractor_lines"))]
    fields = {k: str(v) for k, v in _dict(rec.get("fields")).items() if v not in (None, "")}
    carrier = str(rec.get("carrier") or "unknown").lower()
    has_label = not (
        carrier == "none"
        or bool(condition.get("hard_negative"))
        or ("label_poly" in rec and not rec["label_poly"] and not lines)
    )
    expected_matches = rec.get("expected_matches")
    return Sample(
        id=sid,
        image=_image_path(root, rec, row, sid),
        carrier=carrier,
        has_label=has_label,
        lines=lines,
        distractors=distractors,
        roles=roles,
        polys=polys,
        fields=fields,
        condition=condition,
        expected_matches=expected_matches if isinstance(expected_matches, bool) else None,
        expected=row,
        width=_int_or_none(rec.get("width")),
        height=_int_or_none(rec.get("height")),
        mismatch_kind=rec.get("mismatch_kind") if isinstance(rec.get("mismatch_kind"), str) else None,
        layout=str(rec.get("layout") or "standard"),
    )


def _image_path(root: Path, rec: Mapping[str, Any], row: Mapping[str, str] | None, sid: str) -> Path:
    """`file` relative to the folder, else the manifest's image_uri when it is a local path, else images/<id>.jpg."""
    for candidate in (rec.get("file"), (row or {}).get("image_uri")):
        if isinstance(candidate, str) and candidate and "://" not in candidate:
            path = Path(candidate)
            return path if path.is_absolute() else root / path
    return root / "images" / f"{sid}.jpg"


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "delivery_id" not in reader.fieldnames:
            raise DatasetError(f"{path}: needs a header with a 'delivery_id' column")
        return {row["delivery_id"]: {k: v for k, v in row.items() if k and v} for row in reader}


def _text_items(items: Any) -> list[tuple[str, str, Quad | None]]:
    """(text, role, poly) of each non-blank line; a line may be an object with "text" (and "role", "poly") or a
    bare string."""
    out = []
    for item in items if isinstance(items, list) else []:
        text = item.get("text") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            if isinstance(item, dict):
                out.append((text, str(item.get("role") or "other"), quad_or_none(item.get("poly"))))
            else:
                out.append((text, "other", None))
    return out


def quad_or_none(value: Any) -> Quad | None:
    """Four [x, y] number pairs as a Quad; anything else (missing, malformed) is None."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        quad = [(float(p[0]), float(p[1])) for p in value]
    except (TypeError, ValueError, IndexError):
        return None
    return quad if all(len(p) == 2 for p in value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
