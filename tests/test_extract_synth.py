"""Extraction on synthetic labels read perfectly: the generator's GT lines stand in for OCR.

This isolates extraction quality from OCR quality: every printed line (and every distractor word on the
parcel) becomes a TextLine with its GT polygon, and the manifest row comes from the generator's own
`manifest_rows`, planted mismatches included.
"""

from __future__ import annotations

from typing import Any

import pytest

from podocr.eval.metrics import confusion, field_correct, pred_class, truth_class, verification_prf
from podocr.extract import Expected, extract_fields
from podocr.synth import manifest_rows, render_photo
from podocr.types import Extraction, PageResult, TextLine

SEED = 2027
N_PHOTOS = 60


def page_from_record(rec: dict[str, Any]) -> PageResult:
    """The page a perfect OCR would return for this photo: label lines and distractor words, GT polygons."""
    lines = [
        TextLine(line["text"], 1.0, [(float(x), float(y)) for x, y in line["poly"]])
        for line in [*rec["lines"], *rec["distractor_lines"]]
    ]
    return PageResult(lines, rec["width"], rec["height"])


@pytest.fixture(scope="module")
def extracted() -> list[tuple[dict[str, Any], Extraction]]:
    records = [render_photo(SEED, i, max_side=320)[1] for i in range(N_PHOTOS)]
    rows = manifest_rows(records)
    return [
        (rec, extract_fields(page_from_record(rec), Expected.from_row(row)))
        for rec, row in zip(records, rows, strict=True)
    ]


def _share_correct(pairs: list[tuple[dict[str, Any], Extraction]], name: str) -> tuple[float, int]:
    scored = [(rec, ext) for rec, ext in pairs if rec["fields"].get(name)]
    # A hybrid label's two numbers are both the parcel's (as `podocr eval` scores it): either may be the primary.
    alt = {"tracking_number": "tracking_number_2"}.get(name, "")
    hits = sum(
        any(
            field_correct(name, getattr(ext, name), rec["fields"][k])
            for k in (name, alt)
            if rec["fields"].get(k)
        )
        for rec, ext in scored
    )
    return hits / len(scored), len(scored)


@pytest.mark.parametrize("name", ["tracking_number", "zip"])
def test_tracking_and_zip_recovered_from_perfect_reads(
    extracted: list[tuple[dict[str, Any], Extraction]], name: str
) -> None:
    share, n = _share_correct(extracted, name)
    assert n >= 40
    assert share >= 0.98, f"{name}: {share:.3f} of {n}"


@pytest.mark.parametrize("name", ["street", "city", "state", "recipient_name", "unit"])
def test_other_fields_recovered_from_perfect_reads(
    extracted: list[tuple[dict[str, Any], Extraction]], name: str
) -> None:
    share, n = _share_correct(extracted, name)
    assert share >= 0.95, f"{name}: {share:.3f} of {n}"


def test_planted_mismatches_are_found(extracted: list[tuple[dict[str, Any], Extraction]]) -> None:
    truth = [truth_class(rec["expected_matches"], bool(rec["lines"])) for rec, _ in extracted]
    pred = [pred_class(ext.verification) for _, ext in extracted]
    table = confusion(truth, pred)
    assert sum(table["mismatch"].values()) >= 3, "too few planted mismatches to score"
    f1 = verification_prf(table)[2]
    assert f1 is not None and f1 >= 0.95, table
    # Photos without a label have nothing to compare: never a confident verdict on them.
    assert all(p == "unreadable" for t, p in zip(truth, pred, strict=True) if t == "no-label"), table
