"""From a page's recognised lines to answers: tracking number, recipient address, and the manifest check.

`extract_fields(page, expected, barcodes)` works on what was already read: pure Python + regex + a CRF tagger
(usaddress), about a millisecond per page, and it never raises on odd input (empty pages, junk text, broken
quads). `extract_photo(image, page, expected, cfg)` first decodes the label's barcodes (podocr/barcode) from the
decoded photo and the OCR page, then extracts: the call the job and `podocr eval` make.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from podocr.extract.address import Address, find_recipient, is_hybrid_label
from podocr.extract.fusion import LabelNumber, fuse_tracking
from podocr.extract.layout import group_rows, to_boxes
from podocr.extract.tracking import TrackingCandidate, find_tracking
from podocr.extract.verify import Expected, pick_street_reading, pick_tracking_reading, verify
from podocr.types import Extraction, PageResult

if TYPE_CHECKING:
    import numpy as np

    from podocr.barcode.payload import BarcodeRead
    from podocr.config import PodocrConfig

__all__ = ["Expected", "extract_fields", "extract_photo"]

log = logging.getLogger(__name__)

ADDRESS_ROW_GAP = 1.2
"""Pieces closer than this (in line heights) join into one address row; columns sit further apart."""

TRACKING_ROW_GAP = 2.5
"""Tracking numbers are printed in spaced groups that OCR often splits into pieces: join more generously."""

MIN_LABEL_CHARS = 6
"""With fewer recognised characters on the page there is no label to judge."""


def extract_photo(
    image: np.ndarray | None, page: PageResult, expected: Expected | None, cfg: PodocrConfig
) -> tuple[Extraction, float]:
    """Barcodes decoded from `image` (the label crop the OCR page outlines, then the photo), then the fields.

    Returns the extraction and the seconds the barcode decoding took (the job records it as `barcode_s`).
    """
    from podocr.barcode.decode import scan_photo

    t0 = time.perf_counter()
    reads: list[BarcodeRead] = []
    if image is not None and cfg.barcode.enabled:
        try:
            reads = scan_photo(image, page, cfg.barcode).reads
        except Exception as exc:  # a decoder failure costs the barcode evidence, never the photo's row
            log.warning("barcode decoding failed on a page: %r", exc, exc_info=True)
    seconds = time.perf_counter() - t0
    return extract_fields(page, expected, reads, cfg.verify.recipient_differs_mismatch), seconds


def extract_fields(
    page: PageResult,
    expected: Expected | None = None,
    barcodes: Sequence[BarcodeRead] = (),
    recipient_differs_mismatch: bool = False,
) -> Extraction:
    """Tracking number(s), recipient address and (when `expected` has any field) the verification verdict."""
    try:
        return _extract(page, expected, barcodes, recipient_differs_mismatch)
    except Exception as exc:  # one odd page must never fail a day's batch; the reason says what happened
        log.warning("extraction failed on a page: %r", exc, exc_info=True)
        has_expectation = expected is not None and not expected.empty
        return Extraction(
            verification="unreadable" if has_expectation else None,
            verification_reason=f"extraction error: {type(exc).__name__}" if has_expectation else None,
        )


def _extract(
    page: PageResult,
    expected: Expected | None,
    barcodes: Sequence[BarcodeRead],
    recipient_differs_mismatch: bool,
) -> Extraction:
    boxes = to_boxes(page.lines or [])
    page_text = " ".join(b.text for b in boxes)
    candidates: list[TrackingCandidate] = find_tracking(
        group_rows(boxes, TRACKING_ROW_GAP), page_text=page_text
    )
    fused = fuse_tracking(candidates, barcodes)
    if fused.source == "ocr" and fused.primary is not None:
        picked = pick_tracking_reading(fused.primary, expected)
        if picked is not None and picked is not fused.primary:
            fused.numbers = [
                replace(n, match=picked) if n.match is fused.primary else n for n in fused.numbers
            ]
            fused.primary = picked
    fused.numbers.extend(_repaired_to_manifest(candidates, fused.numbers, expected))
    # A consolidator label: its words, or a USPS IMpb next to another carrier's number.
    kinds = {n.match.kind for n in fused.numbers} | {n.match.carrier for n in fused.numbers}
    hybrid = is_hybrid_label(page_text) or ("usps_impb" in kinds and bool(kinds & {"ups", "fedex"}))
    address = find_recipient(group_rows(boxes, ADDRESS_ROW_GAP), hybrid=hybrid)
    address = pick_street_reading(address, expected)
    if fused.barcode_zip:
        address = _backed_by_barcode_zip(address, fused.barcode_zip)
    readable = bool(barcodes) or sum(len(b.text.replace(" ", "")) for b in boxes) >= MIN_LABEL_CHARS
    verdict = verify(
        address,
        fused.primary,
        expected,
        readable=readable,
        tracking_confidence=fused.confidence,
        label_numbers=fused.numbers,
        recipient_differs_mismatch=recipient_differs_mismatch,
        hybrid=hybrid,
    )
    out = Extraction(
        verification=verdict.verification,
        verification_reason=verdict.reason,
        address_match_score=verdict.score,
        field_scores=verdict.field_scores,
        mismatch_kind=verdict.kind,
        field_agreement=verdict.agreement,
        tracking_source=fused.source,
        tracking_numbers=[n.to_dict() for n in fused.numbers],
        barcodes=[b.to_dict() for b in barcodes],
        barcode_zip=fused.barcode_zip,
    )
    best = fused.primary
    if best is not None:
        out.tracking_number = best.number
        out.carrier = best.carrier or None
        out.tracking_valid = best.valid
        out.tracking_repaired = best.repaired
    if address is not None:
        out.recipient_name = address.name
        out.recipient_company = address.company
        out.street = address.street
        out.unit = address.unit
        out.city = address.city
        out.state = address.state
        out.zip = address.zip
    return out


def _repaired_to_manifest(
    candidates: Sequence[TrackingCandidate], numbers: Sequence[LabelNumber], expected: Expected | None
) -> list[LabelNumber]:
    """The manifest's number where an OCR read other than the primary one is that number with one slipped
    character (the same repair `pick_tracking_reading` makes for the primary). A hybrid label's second number is
    often the manifest's, and a read that fails its check digit is otherwise not kept as a number at all."""
    if expected is None or not expected.tracking:
        return []
    have = {n.match.number for n in numbers}
    for c in candidates:
        picked = pick_tracking_reading(c.match, expected)
        if picked is not None and picked.repaired and picked.number not in have:
            return [LabelNumber(picked, "ocr", c.confidence)]
    return []


def _backed_by_barcode_zip(address: Address | None, zip5: str) -> Address:
    """The barcode's routing ZIP backs the recipient's: it fills a ZIP OCR missed and overrules one it misread
    (the decoder reads it exactly); either way the ZIP then counts as read with full confidence."""
    address = address if address is not None else Address()
    if not address.zip or address.zip[:5] != zip5:
        address.zip = zip5
    address.field_confidence["zip"] = 1.0
    address.zip_exact = True
    return address
