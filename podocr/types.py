"""Typed records passed between pipeline stages (the boundaries a newcomer should read first)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Point = tuple[float, float]
Quad = list[Point]  # 4 corners, clockwise from top-left of the text's own reading direction, image pixels


@dataclass(slots=True)
class TextLine:
    """One recognised line of text, positioned in the *original* photo's pixel coordinates."""

    text: str
    confidence: float
    quad: Quad

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": float(self.confidence), "quad": [list(p) for p in self.quad]}


@dataclass(slots=True)
class PageResult:
    """Everything the OCR pipeline learned from one photo."""

    lines: list[TextLine]
    width: int
    height: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, this photo's share
    rotation: int = 0  # page-level rotation (0/90/180/270, clockwise) applied before reading
    roi: list[int] | None = None  # [x0, y0, x1, y1] of the label crop actually read, None = whole photo
    # detected lines left out of `lines` (blank, or read below rec.drop_score): eval tells "found but misread"
    # from "never found" with them; not part of the job's output
    rejected: list[TextLine] = field(default_factory=list)

    @property
    def full_text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "roi": self.roi,
            "timings": dict(self.timings),
            "lines": [line.to_dict() for line in self.lines],
        }


@dataclass(slots=True)
class Extraction:
    """Answers derived from a page's lines (tracking number, recipient address, verification)."""

    tracking_number: str | None = None
    carrier: str | None = None
    tracking_valid: bool = False
    tracking_repaired: bool = False
    recipient_name: str | None = None
    recipient_company: str | None = None
    street: str | None = None
    unit: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    verification: str | None = None  # match | mismatch | unreadable | None (nothing expected)
    verification_reason: str | None = None
    address_match_score: float | None = None
    field_scores: dict[str, float] = field(default_factory=dict)
    mismatch_kind: str | None = None  # other_parcel | address_differs | recipient_differs | None
    field_agreement: dict[str, str] = field(default_factory=dict)  # field → agrees | differs | unsure
    tracking_source: str | None = None  # barcode | ocr | both | None (no number)
    tracking_numbers: list[dict[str, str]] = field(
        default_factory=list
    )  # every number: number, carrier, source
    barcodes: list[dict[str, str]] = field(default_factory=list)  # decoded symbols: symbology, payload
    barcode_zip: str | None = None  # ship-to ZIP from a barcode's routing code (GS1 420, MaxiCode)
