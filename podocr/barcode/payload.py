"""What a decoded barcode says: the tracking number(s) it carries and the routing ZIP, per carrier convention.

A barcode decodes exactly or not at all, so its payload is evidence of a different kind than OCR: a number it
carries that passes the carrier's check digit is taken as read (no confusion repair). Conventions handled:

- GS1-128 (USPS IMpb): AI `420` + ship-to ZIP5 or ZIP+4, then the IMpb tracking number (`92…`, `93…`, `94…`,
  `95…`, 22 or 26 digits). Decoders report it with FNC1 as a GS character, as HRI text with `(420)`, or —
  when the FNC1 is lost — as one digit run `420ZZZZZ92…`.
- FedEx Ground "96" barcodes (22 digits) are the tracking number in their own right; FedEx's 34-digit label
  barcode carries the 12-digit (Express) or 15-digit (Ground) number in its last digits.
- UPS `1Z` numbers are Code 128 as printed; MaxiCode/PDF417 ANSI MH10.8.3 messages (`[)>` RS `01` GS `96`ZIP
  GS country GS class GS tracking …) carry both the tracking number and the ship-to ZIP.
- Anything else that looks like a tracking number (mostly digits, 10–35 characters, no spaces) is kept with an
  empty carrier: new carriers (SpeedX, OnTrac, LaserShip, regional couriers) print formats we do not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from podocr.extract.tracking import (
    TrackingMatch,
    fedex12_check_digit,
    match_tracking,
    mod10_31_check_digit,
    unknown_tracking,
)

GS = "\x1d"
RS = "\x1e"
EOT = "\x04"

USPS_IMPB_LENGTHS = (22, 26, 30)
FEDEX_34_LENGTH = 34


@dataclass(frozen=True, slots=True)
class BarcodeRead:
    """One decoded symbol and what it says about the parcel."""

    symbology: str  # Code128, DataMatrix, PDF417, QRCode, …
    payload: str  # as decoded; GS/RS separators kept as control characters
    numbers: tuple[TrackingMatch, ...] = ()  # tracking numbers it carries (validated, or carrier "" unknown)
    zip: str | None = None  # ship-to ZIP5 from a routing code (GS1 AI 420, MH10.8.3 postal code)
    box: tuple[float, float, float, float] | None = field(default=None, compare=False)  # photo px, if known

    def to_dict(self) -> dict[str, Any]:
        return {"symbology": self.symbology, "payload": printable(self.payload)}


def printable(payload: str) -> str:
    """The payload with GS/RS/EOT shown as `<GS>`, `<RS>`, `<EOT>` (Parquet and JSON stay readable)."""
    return payload.replace(GS, "<GS>").replace(RS, "<RS>").replace(EOT, "<EOT>")


def exact_tracking(text: str) -> TrackingMatch | None:
    """A known format that validates exactly as written (no OCR repair: the barcode decoded these characters)."""
    m = match_tracking(text, repair=False)
    return m if m is not None and m.valid and (m.checked or m.strong) else None


def strong_shape(text: str) -> TrackingMatch | None:
    """A carrier-specific shape (`1Z…`, `TBA…`, `96…`, `92…`) whose check digit fails: kept, not valid.

    Test and mock labels print such numbers; a barcode that carries one still names the parcel exactly.
    """
    m = match_tracking(text, repair=False)
    return m if m is not None and m.strong else None


def fedex_34(digits: str) -> TrackingMatch | None:
    """The tracking number inside FedEx's 34-digit label barcode: the last 12 (Express) or 15 (Ground) digits."""
    if len(digits) != FEDEX_34_LENGTH or not digits.isdigit():
        return None
    tail12, tail15 = digits[-12:], digits[-15:]
    if digits[-14:-12] == "00" and fedex12_check_digit(tail12[:11]) == int(tail12[11]):
        return TrackingMatch(tail12, "fedex", "fedex_express_12", True, False, False)
    if mod10_31_check_digit(tail15[:14]) == int(tail15[14]):
        return TrackingMatch(tail15, "fedex", "fedex_ground_15", True, False, False)
    return None


def _gs1_elements(payload: str) -> list[tuple[str, str]] | None:
    """(AI, value) pairs of a GS1 message in HRI form `(420)12345(92)…`; None when it is not one."""
    if not payload.startswith("("):
        return None
    pairs = re.findall(r"\((\d{2,4})\)([^(]*)", payload)
    return [(ai, value) for ai, value in pairs] or None


def _usps_from_digits(digits: str) -> tuple[TrackingMatch | None, str | None]:
    """`420`+ZIP(+4) then an IMpb number, all digits (FNC1 lost or printed HRI flattened)."""
    if not digits.startswith("420"):
        return None, None
    for cut in (8, 12):
        rest = digits[cut:]
        if len(rest) in USPS_IMPB_LENGTHS:
            m = exact_tracking(rest)
            if m is not None and m.carrier == "usps":
                return m, digits[3:8]
    return None, None


def _parse_gs_fields(fields: list[str]) -> tuple[list[TrackingMatch], str | None]:
    """GS-separated fields (GS1 with FNC1, or an ANSI MH10.8.3 message): numbers and the ship-to ZIP."""
    numbers: list[TrackingMatch] = []
    zipcode: str | None = None
    for i, f in enumerate(fields):
        f = f.strip()
        if not f:
            continue
        if i == 0 and f.startswith("420") and len(f) in (8, 12) and f.isdigit():
            zipcode = f[3:8]  # GS1 AI 420: ship-to postal code, closed by FNC1
            continue
        if f.startswith("96") and len(f) in (7, 11) and f.isdigit() and zipcode is None:
            zipcode = f[2:7]  # MH10.8.3 format 01, field "96" + ship-to postal code
            continue
        m = exact_tracking(f) or _usps_from_digits(f)[0] or fedex_34(f) or strong_shape(f)
        if m is not None:
            numbers.append(m)
    return numbers, zipcode


def parse_payload(symbology: str, payload: str) -> BarcodeRead:
    """The tracking numbers and routing ZIP a barcode carries (none when it carries neither)."""
    numbers: list[TrackingMatch] = []
    zipcode: str | None = None
    text = payload.strip()
    elements = _gs1_elements(text)
    if elements is not None:
        for ai, value in elements:
            if ai == "420" and len(value) >= 5 and value[:5].isdigit():
                zipcode = value[:5]
            elif ai == "421" and len(value) >= 8 and value[3:8].isdigit():
                zipcode = value[3:8]  # ISO country code, then the postal code
            elif ai in ("91", "92", "93", "94", "95") or len(ai + value) in USPS_IMPB_LENGTHS:
                m = exact_tracking(ai + value)
                if m is not None:
                    numbers.append(m)
            elif ai == "00" and (m := unknown_tracking(value)) is not None:
                numbers.append(m)  # SSCC: a logistics unit id, kept as an unknown-format number
    elif GS in text or RS in text or text.startswith("[)>"):
        body = text.removeprefix("[)>").lstrip(RS)
        body = body.removeprefix("01" + GS) if body.startswith("01" + GS) else body
        numbers, zipcode = _parse_gs_fields(re.split(f"[{GS}{RS}{EOT}]", body))
    else:
        compact = re.sub(r"[\s\-]+", "", text.upper())
        usps, usps_zip = _usps_from_digits(compact)
        m = usps or fedex_34(compact) or exact_tracking(compact) or strong_shape(compact)
        if m is not None:
            numbers.append(m)
            zipcode = usps_zip
        elif (u := unknown_tracking(text)) is not None and " " not in text.strip():
            numbers.append(u)
    return BarcodeRead(symbology, payload, tuple(_unique(numbers)), zipcode)


def _unique(numbers: list[TrackingMatch]) -> list[TrackingMatch]:
    seen: set[str] = set()
    out = []
    for m in numbers:
        if m.number not in seen:
            seen.add(m.number)
            out.append(m)
    return out
