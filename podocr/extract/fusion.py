"""One answer from two readers of the tracking number: the barcode decoder and OCR of the printed digits.

A barcode decodes exactly or not at all, and its bars stay legible where small digits blur; OCR reads what is
printed and may slip a character. So: when they agree the number is `both`; when they disagree a barcode whose
payload validates (check digit, or a carrier-specific shape) wins; OCR fills in when no barcode decodes. Every
number on the label is kept (hybrid labels carry a UPS `1Z` and a USPS IMpb), each with its carrier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podocr.extract.tracking import TrackingCandidate, TrackingMatch, confusable_equal

if TYPE_CHECKING:
    from podocr.barcode.payload import BarcodeRead

BARCODE_CONFIDENCE = 1.0
"""Evidence weight of a decoded number: a barcode's own error detection has already checked every character."""


@dataclass(frozen=True, slots=True)
class LabelNumber:
    """One tracking number found on the label."""

    match: TrackingMatch
    source: str  # barcode | ocr | both
    confidence: float = BARCODE_CONFIDENCE  # evidence confidence: OCR's lowest piece, or 1.0 when decoded

    def to_dict(self) -> dict[str, str]:
        return {"number": self.match.number, "carrier": self.match.carrier, "source": self.source}


@dataclass(slots=True)
class FusedTracking:
    primary: TrackingMatch | None = None
    source: str | None = None  # barcode | ocr | both | None
    confidence: float = 1.0  # evidence confidence of `primary` (OCR's lowest piece, or 1.0 when decoded)
    numbers: list[LabelNumber] = field(default_factory=list)
    barcode_zip: str | None = None


def _same(a: TrackingMatch, b: TrackingMatch) -> bool:
    return a.number == b.number or confusable_equal(a.number, b.number)


def _trusted(m: TrackingMatch) -> bool:
    """A decoded number that may overrule OCR: it validates, or has a carrier-specific shape."""
    return m.valid or m.strong


def fuse_tracking(candidates: Sequence[TrackingCandidate], reads: Sequence[BarcodeRead]) -> FusedTracking:
    """The label's tracking number(s) from OCR candidates (best first) and decoded barcodes."""
    out = FusedTracking()
    decoded: list[TrackingMatch] = []
    for r in reads:
        for m in r.numbers:
            if not any(m.number == d.number for d in decoded):
                decoded.append(m)
        out.barcode_zip = out.barcode_zip or r.zip
    decoded.sort(
        key=lambda m: (not m.valid, not m.strong)
    )  # validated first, then carrier shapes, unknown last
    ocr = list(candidates)
    agreed = [d for d in decoded if any(_same(d, c.match) for c in ocr)]
    best_ocr = ocr[0] if ocr else None
    if best_ocr is not None and any(_same(d, best_ocr.match) for d in decoded):
        out.primary = next(d for d in decoded if _same(d, best_ocr.match))
        out.source, out.confidence = "both", BARCODE_CONFIDENCE
    elif agreed and _trusted(agreed[0]):
        out.primary, out.source, out.confidence = agreed[0], "both", BARCODE_CONFIDENCE
    elif decoded and _trusted(decoded[0]):
        out.primary, out.source, out.confidence = decoded[0], "barcode", BARCODE_CONFIDENCE
    elif best_ocr is not None:
        out.primary, out.source, out.confidence = best_ocr.match, "ocr", best_ocr.confidence
    elif decoded:
        out.primary, out.source, out.confidence = decoded[0], "barcode", BARCODE_CONFIDENCE
    for d in decoded:
        both = any(_same(d, c.match) for c in ocr)
        out.numbers.append(LabelNumber(d, "both" if both else "barcode"))
    for c in ocr:
        if any(_same(n.match, c.match) for n in out.numbers):
            continue
        keep = c.match is out.primary or (c.match.tier >= 1 and (c.match.strong or c.labelled))
        if keep or (c.match.kind == "unknown" and c.labelled):
            out.numbers.append(LabelNumber(c.match, "ocr", c.confidence))
    return out
