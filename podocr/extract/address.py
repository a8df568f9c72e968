"""The recipient block: find it among the label's rows and parse it into name, company, street, unit, city…

A label carries two addresses. The recipient's is introduced by SHIP TO / TO / DELIVER TO, printed larger, and
sits below (or right of) the sender's FROM / SHIP FROM / RETURN block. Every address block ends with a
"CITY ST 12345" row, so blocks are grown upward from each such row through the rows stacked above it in the
same column, and the best block wins on anchor words, type size and position.

Longer than our usual module on purpose: block finding, keyword ranking (DELIVER TO over SHIP TO, induction
blocks) and parsing interlock; they are kept in one file so the ranking can be read as one rule set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import usaddress

from podocr.extract.layout import Row, median
from podocr.extract.normalize import (
    STATE_NAMES,
    STATES,
    UNIT_DESIGNATORS,
    clean,
    fix_digits,
    fix_letters,
    fix_words,
    normalize_name,
    normalize_state,
    normalize_street,
    normalize_unit,
    normalize_zip,
    street_readings,
)

RECIPIENT_ANCHOR = re.compile(
    r"^(?:(?:SH[I1L]?P|S[I1L]P|H[I1L]P)\s*[TY][O0][I1L]?|SEND\s*T[O0]|RECIPIENT|T[O0])(?![A-Z0-9])\s*:?\s*"
)
"""SHIP TO also as OCR reads small bold print: a letter lost or misread (`SHP TO`, `SIP TO`, `HIP TO`, `SHP YO`) or the colon read as
a letter (`SHIP TOI`). Missing it lets the recipient's block grow up into the sender's lines above it."""
FINAL_ANCHOR = re.compile(
    r"^(?:(?:USPS|USP5|LOCAL|FINAL)\s*|[A-Z0-9]{2,5}\s+)?(?:DELIVER\s*T[O0]|CONSIGNEE|DELIVERY\s*ADDRESS)(?![A-Z0-9])"
    r"\s*:?\s*"
)
"""The final consignee on hybrid/consolidator labels (UPS SurePost, USPS via a consolidator): under SHIP TO such
labels print the induction post office, so a DELIVER TO block outranks a SHIP TO block. The word before DELIVER TO
may be misread (`OSPS DELIVER TO`): DELIVER TO alone is distinctive enough."""

INDUCTION_LINE = re.compile(r"POSTMASTER|POSTOFFICE(?!BOX)|USPS(?:DDU|SCF|NDC|PDC|P&DC|FACILITY)")
"""A line naming a post office, matched on its letters without spaces (`US POST OFFICE`, `USPOSTOFFICE`):
consolidator labels print the induction post office (POSTMASTER, US POST OFFICE, a USPS facility) under
SHIP TO. Such a block is where the carrier hands the parcel to USPS, never the final consignee. A PO box
(`POST OFFICE BOX 12`) is a delivery address and does not count."""

HYBRID_LABEL = re.compile(
    r"SUREPOST|MAILINNOVATIONS|SMARTPOST|GROUNDECONOMY|PARCELSELECT|USPSDELIVERTO|DELIVERTO|POSTMASTER"
)
"""Words of a consolidator/hybrid label (matched without spaces): the carrier hands the parcel to USPS, and the
block under SHIP TO may be the induction post office rather than the consumer."""

RECIPIENT_ANCHORS = ("final", "recipient")
"""`Address.anchor` values that surely introduce the recipient (final consignee first)."""
SENDER_ANCHOR = re.compile(
    r"^(?:SHIP\s*FR[O0]M|FR[O0]M|SENDER|SHIPPER|RETURN(?:\s*ADDRESS|\s*T[O0])?|ORIGIN(?:\s*ID)?)(?![A-Z0-9])\s*:?\s*"
)

NOISE_WORDS = frozenset(
    {"TRACKING", "TRK", "USPS", "FEDEX", "UPS", "DHL", "POSTAGE", "PERMIT", "FRAGILE", "BILLING", "WAYBILL",
     "AWB", "LBS", "LB", "KG", "DIMS", "DWT", "ACTWGT", "SHIPDATE", "CAD", "OVERNIGHT", "CUSTOMS", "INVOICE",
     "REF", "WEIGHT"}
)  # fmt: skip
"""Words of label furniture that never belong in a name or delivery line: such a row ends an address block."""

NOISE_PHRASES = re.compile(
    r"\b(?:NEXT DAY|2ND DAY|3 DAY|PRIORITY MAIL|GROUND ADVANTAGE|HOME DELIVERY|POSTAGE PAID|THIS SIDE UP|"
    r"HANDLE WITH CARE|SIGNATURE REQUIRED|RETURN SERVICE|SHIP DATE|\d+ OF \d+|"
    r"(?:ADDRESS|CHANGE|RETURN|FORWARDING|ELECTRONIC) SERVICE REQUESTED|AUTO\s*\d?\s*DIGIT|MIXED AADC)\b"
)
ENDORSEMENT_LINE = re.compile(r"^#.*#$|^\*{2,}")
"""USPS e-VS / marketplace endorsement lines above the recipient (`#B0012 34567#`, `***AUTO**5-DIGIT`): they end
a block like furniture, so the rows under them (no TO keyword at all) stay the recipient's."""
"""Service names and handling text made of ordinary words (`DAY`, `MAIL` alone can be in a street name)."""

COMPANY_WORDS = frozenset(
    {"INC", "LLC", "LLP", "LTD", "CORP", "CORPORATION", "CO", "COMPANY", "GROUP", "HOLDINGS", "PARTNERS",
     "ASSOCIATES", "SERVICES", "SOLUTIONS", "SYSTEMS", "TECHNOLOGIES", "INDUSTRIES", "ENTERPRISES", "STORE",
     "SHOP", "UNIVERSITY", "HOSPITAL", "CLINIC", "BANK", "FOUNDATION", "STUDIO", "LABS", "PLC", "PC", "PA"}
)  # fmt: skip
"""Words that mark a line as an organisation rather than a person."""

BLOCK_MAX_ROWS = 7
"""Rows an address block may span above its CITY ST ZIP row (name, attention, company, 2 street lines…)."""

BLOCK_MAX_GAP = 1.6
"""Largest vertical gap, in line heights, between consecutive rows of one block."""

COLUMN_TOLERANCE = 2.5
"""A row belongs to the block's column when its left edge is within this many line heights of the block's."""

RECIPIENT_BONUS = 3.0
SIZE_WEIGHT = 3.0
CITY_ROW_BONUS = 0.5
FINAL_BONUS = 4.0
"""Block score = RECIPIENT_BONUS if a recipient word opens it + SIZE_WEIGHT·(its text height / page median − 1)
+ CITY_ROW_BONUS if it ends in a CITY ST ZIP row + small terms for lower position and more rows. Size outweighs
a complete city row: when OCR loses the recipient's city line, its larger street line must still beat the
sender's complete (small) block."""


@dataclass(slots=True)
class CityLine:
    city: str
    state: str
    zip: str  # 12345 or 12345-6789


@dataclass(slots=True)
class Address:
    """A parsed recipient (or, if nothing better, any) address block, in normalised upper-case form."""

    name: str | None = None
    company: str | None = None
    street: str | None = None
    unit: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    anchor: str = ""  # "final" (DELIVER TO) | "recipient" (SHIP TO / TO) | "": the opening keyword
    lines: list[str] = field(default_factory=list)  # the block's rows as read
    confidence: float = 1.0  # median OCR confidence of the block's rows: how far its fields can be trusted
    field_confidence: dict[str, float] = field(default_factory=dict)  # name/street/city row's own confidence
    street_readings: list[str] = field(default_factory=list)  # other readings of `street` (glued ordinal)
    zip_elsewhere: list[str] = field(default_factory=list)  # ZIPs printed alone on a row (a routing ZIP line)
    zip_exact: bool = False  # the ZIP is the barcode's routing ZIP (decoded exactly), not an OCR read


_ZIP9 = re.compile(r"(\d{5})\s*-?\s*(\d{4})$")
_ZIP5 = re.compile(r"(\d{5})$")
_ZIP9_LOOSE = re.compile(r"([0-9A-Z]{5})\s*-\s*([0-9A-Z]{4})$")
_ZIP5_LOOSE = re.compile(r"([0-9A-Z]{5})$")
_COUNTRY = re.compile(r"[\s,]+(?:US|USA|U S A|UNITED STATES(?: OF AMERICA)?)$")

_ZIP_LAST_CHARS = frozenset("0123456789OIDLSBZQG")
MIN_ZIP_REAL_DIGITS = 3
"""A ZIP read with OCR letters (`1I272`) is repaired only when at least this many of its 5 characters are digits."""


def parse_city_line(text: str) -> CityLine | None:
    """`BROOKLYN, NY 11272-1234`, `BROOKLYNNY11272`, `NEW YORK NY 1OOO1` → city, state, ZIP; else None."""
    return _parse_city(clean(text))


def _parse_city(t: str) -> CityLine | None:
    """`parse_city_line` on text that is already `clean`."""
    if len(t) < 8:
        return None
    if t[-1] not in _ZIP_LAST_CHARS:
        t = _COUNTRY.sub("", t)
        if len(t) < 8 or t[-1] not in _ZIP_LAST_CHARS:
            return None
    found = _split_zip(t)
    if found is None:
        return None
    prefix, zipcode = found
    prefix = re.sub(r"\b([A-Z]) ([A-Z])$", r"\1\2", prefix.rstrip(" ,-"))
    for name, code in STATE_NAMES.items():
        if prefix.endswith(" " + name) and len(prefix) > len(name) + 2:
            return CityLine(fix_words(prefix[: -len(name)].strip(" ,")), code, zipcode)
    state = fix_letters(prefix[-2:])
    city = fix_words(prefix[:-2].strip(" ,-"))
    if state not in STATES or sum(c.isalpha() for c in city) < 2 or any(c.isdigit() for c in city):
        return None
    return CityLine(city, state, zipcode)


def _split_zip(t: str) -> tuple[str, str] | None:
    """(text before the ZIP, the ZIP) when `t` ends in a ZIP or ZIP+4, trying exact digits first."""
    for pattern in (_ZIP9, _ZIP5):
        m = pattern.search(t)
        if m is not None:
            zipcode = m.group(1) if pattern is _ZIP5 else f"{m.group(1)}-{m.group(2)}"
            return t[: m.start()], zipcode
    for pattern in (_ZIP9_LOOSE, _ZIP5_LOOSE):
        m = pattern.search(t)
        if m is None:
            continue
        parts = [fix_digits(g) for g in m.groups() if g]
        real = sum(c.isdigit() for c in m.group(1))
        if real >= MIN_ZIP_REAL_DIGITS and all(p.isdigit() for p in parts):
            return t[: m.start()], "-".join(parts)
    return None


@dataclass(slots=True)
class _RowInfo:
    row: Row
    anchor: str  # final | recipient | sender | induction | ""
    rest: str  # text after the anchor word(s)
    city: CityLine | None
    noise: bool
    induction: bool = False  # names a post office (POSTMASTER, US POST OFFICE)


def _describe(row: Row) -> _RowInfo:
    text = clean(row.text)
    anchor, rest = "", text
    lettered = fix_letters(text)  # same length; `5HIP T0` still opens a block
    m = SENDER_ANCHOR.match(lettered)
    if m:
        anchor, rest = "sender", text[m.end() :]
    elif m := FINAL_ANCHOR.match(lettered):
        anchor, rest = "final", text[m.end() :]
    elif m := RECIPIENT_ANCHOR.match(lettered):
        anchor, rest = "recipient", text[m.end() :]
    if anchor and len(rest.replace(" ", "")) <= 1:
        rest = ""  # `TO J`: the keyword's colon read as a letter, not a one-letter name
    tokens = set(rest.split())
    digits = sum(map(str.isdigit, rest))
    noise = (
        bool(tokens & NOISE_WORDS) or NOISE_PHRASES.search(rest) is not None
    ) and not _starts_with_house_number(rest)
    noise = noise or (digits >= 8 and digits >= 0.6 * len(rest.replace(" ", "")))
    noise = noise or ENDORSEMENT_LINE.match(rest) is not None
    induction = ("POST" in lettered or "USPS" in lettered) and _induction(lettered)
    if induction and not anchor:
        anchor = "induction"  # opens (ends, growing upward) the post office's block like an anchor word
    return _RowInfo(row, anchor, rest, _parse_city(rest), noise, induction)


def is_induction_line(text: str) -> bool:
    """`POSTMASTER`, `US POST OFFICE`, `USPS DDU …` (OCR digits read back as letters): see `INDUCTION_LINE`."""
    return _induction(fix_letters(clean(text)))


def _induction(lettered: str) -> bool:
    return INDUCTION_LINE.search(_NOT_LETTER.sub("", lettered)) is not None


_NOT_LETTER = re.compile(r"[^A-Z&]")


def is_hybrid_label(page_text: str) -> bool:
    """Whether the page shows a consolidator/hybrid label's words (see `HYBRID_LABEL`)."""
    return HYBRID_LABEL.search(re.sub(r"[^A-Z]", "", fix_letters(clean(page_text)))) is not None


def _grow_block(infos: list[_RowInfo], k: int) -> tuple[list[_RowInfo], str]:
    """Rows stacked above row `k` (a CITY ST ZIP or street row) in its column, top → bottom, and the anchor
    word that opened the block."""
    base = infos[k].row
    h = base.height
    x0 = base.x0
    block = [infos[k]]
    top = base.top
    for j in range(k - 1, -1, -1):
        info = infos[j]
        r = info.row
        if r.yc >= base.yc - 0.5 * h:
            continue  # same row band as the CITY line (another column)
        if top - r.bottom > BLOCK_MAX_GAP * max(h, r.height):
            break
        if abs(r.x0 - x0) > COLUMN_TOLERANCE * h and not (info.anchor and r.x1 > x0 - h and r.x0 < x0):
            continue  # another column
        if info.anchor:
            if info.rest and not info.noise:
                block.insert(0, info)
            return block, info.anchor
        if info.city is not None or info.noise or len(block) >= BLOCK_MAX_ROWS:
            break
        block.insert(0, info)
        top = r.top
    return block, _anchor_beside(infos, block)


def _anchor_beside(infos: list[_RowInfo], block: list[_RowInfo]) -> str:
    """A lone SHIP TO / FROM printed left of (or just above) the block's first row, in its own row."""
    first = block[0].row
    h = first.height
    for info in infos:
        r = info.row
        if not info.anchor or info.rest:
            continue
        beside = r.x1 <= first.x0 + h and first.top - 2 * h <= r.yc <= block[-1].row.bottom
        if beside and first.x0 - r.x1 < 8 * h:
            return info.anchor
    return ""


_ZIP_ROW = re.compile(r"\d{5}(?:-\d{4})?")


def find_recipient(rows: Sequence[Row], *, hybrid: bool = False) -> Address | None:
    """`_find_recipient`, with the ZIPs the label prints alone on a row outside the block (FedEx prints the
    destination ZIP large in its routing area): a second reading of the ZIP."""
    address = _find_recipient(rows, hybrid=hybrid)
    if address is not None:
        own = set(address.lines)
        address.zip_elsewhere = [
            clean(r.text)[:5] for r in rows if r.text not in own and _ZIP_ROW.fullmatch(clean(r.text))
        ]
    return address


def _find_recipient(rows: Sequence[Row], *, hybrid: bool = False) -> Address | None:
    """The recipient address on the label, parsed and normalised; None when no address block is found.

    A block introduced by a sender word, or naming a post office (the induction point of a consolidator
    label), is never the recipient. When no complete block carries a recipient word but the page has one (the
    recipient's CITY line was misread), the rows under that word are used. On a `hybrid` (consolidator) label
    SHIP TO may introduce the induction post office, so only DELIVER TO earns the keyword bonus.
    """
    if not rows:
        return None
    infos = [_describe(r) for r in rows]
    page_h = median([r.height for r in rows]) or 1.0
    blocks = [_grow_block(infos, k) for k, info in enumerate(infos) if info.city is not None]
    # A delivery line outside every block seeds one too: the recipient's CITY row may not have been read.
    taken = {id(i) for block, _ in blocks for i in block}
    for k, info in enumerate(infos):
        if (
            id(info) not in taken
            and not info.anchor
            and not info.noise
            and _starts_with_house_number(info.rest)
        ):
            blocks.append(_grow_block(infos, k))
    # A block naming a post office is the induction point, whatever keyword opened it (`SHIP TO: POSTMASTER`).
    blocks = [(b, "induction" if any(i.induction for i in b) else a) for b, a in blocks]
    blocks.sort(key=lambda b: b[0][-1].row.yc)
    best: tuple[list[_RowInfo], str] | None = None
    best_score = -math.inf
    for order, (block, anchor) in enumerate(blocks):
        if anchor in ("sender", "induction"):
            continue
        size = sum(i.row.height for i in block) / len(block) / page_h
        score = SIZE_WEIGHT * (size - 1.0) + 0.3 * order / max(len(blocks) - 1, 1) + 0.1 * len(block)
        score += RECIPIENT_BONUS if anchor == "final" or (anchor == "recipient" and not hybrid) else 0.0
        score += FINAL_BONUS if anchor == "final" else 0.0
        score += CITY_ROW_BONUS if block[-1].city is not None else 0.0
        if score > best_score:
            best, best_score = (block, anchor), score
    final_elsewhere = best is not None and best[1] != "final" and any(i.anchor == "final" for i in infos)
    if best is None or best[1] not in RECIPIENT_ANCHORS or final_elsewhere:
        under_anchor = _rows_under_anchor(infos)
        if under_anchor is not None:
            return under_anchor
    if best is None:
        return None
    block, anchor = best
    city = block[-1].city
    address = parse_block([i.rest for i in (block[:-1] if city is not None else block)])
    if city is not None:
        address.city, address.state, address.zip = city.city, city.state, city.zip
    address.anchor = anchor
    address.lines = [i.row.text for i in block]
    address.confidence = median([i.row.confidence for i in block])
    address.field_confidence = _field_confidence(block, city is not None)
    return address


def _field_confidence(block: list[_RowInfo], city_row: bool) -> dict[str, float]:
    """Each field's own row confidence: a contradiction is judged on the row it was read from."""
    out: dict[str, float] = {}
    body = block[:-1] if city_row else block
    if city_row:
        out["city"] = out["state"] = out["zip"] = block[-1].row.confidence
    street_rows = [i for i in body if _starts_with_house_number(i.rest) or _PO_BOX.match(i.rest)]
    if street_rows:
        out["street"] = street_rows[-1].row.confidence
    people = [i for i in body if i not in street_rows and _mostly_letters(i.rest)]
    if people:
        out["name"] = people[0].row.confidence
    return out


def _rows_under_anchor(infos: list[_RowInfo]) -> Address | None:
    """The rows below (or right of) a recipient word, in one column, parsed with a looser city line."""
    order = sorted(range(len(infos)), key=lambda k: infos[k].anchor != "final")  # DELIVER TO first
    for k in order:
        info = infos[k]
        if info.anchor not in RECIPIENT_ANCHORS:
            continue
        block = [info] if info.rest else []
        h = info.row.height
        bottom, x0 = info.row.bottom, (info.row.x0 if info.rest else None)
        for nxt in infos[k + 1 :]:
            r = nxt.row
            if r.yc <= info.row.yc - 0.5 * h:
                continue
            if r.top - bottom > BLOCK_MAX_GAP * max(h, r.height):
                break
            if x0 is None:
                if r.x1 < info.row.x0:
                    continue  # left of the anchor: another column
                x0 = r.x0
            elif abs(r.x0 - x0) > COLUMN_TOLERANCE * r.height:
                continue
            if nxt.anchor or nxt.noise or len(block) >= BLOCK_MAX_ROWS:
                break
            block.append(nxt)
            bottom, h = r.bottom, r.height
            if nxt.city is not None:
                break
        if not block or any(i.induction for i in block):
            continue
        lines = [i.rest for i in block]
        city = block[-1].city
        address = parse_block(lines[:-1] if city is not None else lines)
        if city is not None:
            address.city, address.state, address.zip = city.city, city.state, city.zip
        elif address.street is not None:
            _loose_city_line(address, lines[-1])
        address.anchor = info.anchor
        address.lines = [i.row.text for i in block]
        address.confidence = median([i.row.confidence for i in block])
        address.field_confidence = _field_confidence(block, city is not None)
        return address
    return None


def _loose_city_line(address: Address, line: str) -> None:
    """Whatever usaddress can tag as city, state and ZIP in a line the strict parser rejected."""
    try:
        parsed = usaddress.parse(line)
    except Exception:  # usaddress/crfsuite errors on odd input must not stop extraction
        return
    city = " ".join(t for t, lab in parsed if lab == "PlaceName").strip(" ,")
    state = next((t for t, lab in parsed if lab == "StateName"), None)
    zipcode = next((t for t, lab in parsed if lab == "ZipCode"), None)
    address.city = fix_words(city) or None
    address.state = normalize_state(state)
    address.zip = normalize_zip(zipcode)


# ---- block lines → fields ------------------------------------------------------------------------------------
_HOUSE_NUMBER = re.compile(r"^(?:\d+[A-Z]?|\d+-\d+[A-Z]?|\d+ \d/\d)$")
_PO_BOX = re.compile(r"^(?:P\s?O\s?BOX|POST OFFICE BOX|BOX|PMB|RR|HC)\b")
_PHONE = re.compile(r"(?:\bTEL\b|\bPHONE\b|\bPH\b|\d{3}\D{0,2}\d{3}\D?\d{4})")
_ATTN = re.compile(r"^(?:ATTN|ATTENTION|C/O|CO)\b\s*:?\s*")
_STREET_LABELS = {"AddressNumber", "AddressNumberPrefix", "AddressNumberSuffix", "StreetNamePreDirectional",
                  "StreetNamePreModifier", "StreetNamePreType", "StreetName", "StreetNamePostType",
                  "StreetNamePostDirectional", "StreetNamePostModifier", "USPSBoxType", "USPSBoxID",
                  "BuildingName", "LandmarkName", "CornerOf", "IntersectionSeparator", "SecondStreetName",
                  "SecondStreetNamePostType"}  # fmt: skip
_UNIT_LABELS = {"OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier"}


def _starts_with_house_number(line: str) -> bool:
    tokens = line.split()
    if len(tokens) < 2 or not any(c.isalpha() for c in " ".join(tokens[1:])):
        return False
    head = re.sub(r"^(\d+)([A-Z]{2,})$", r"\1", tokens[0])  # `123MAIN` → `123`
    return bool(_HOUSE_NUMBER.match(fix_digits(head)))


def _is_unit_line(line: str) -> bool:
    tokens = line.split()
    return bool(tokens) and tokens[0] in UNIT_DESIGNATORS and len(tokens) <= 3


def split_street_unit(line: str) -> tuple[str, str]:
    """`123 MAIN ST APT 4B` → (`123 MAIN ST`, `APT 4B`) with usaddress; a designator regex when it fails."""
    try:
        parsed = usaddress.parse(line)
    except Exception:  # usaddress/crfsuite errors on odd input must not stop extraction
        parsed = []
    if parsed:
        labels = [label for _, label in parsed]
        first_unit = next((i for i, lab in enumerate(labels) if lab in _UNIT_LABELS), None)
        if (
            first_unit is not None
            and first_unit > 0
            and all(lab in _UNIT_LABELS for lab in labels[first_unit:])
        ):
            return (" ".join(t for t, _ in parsed[:first_unit]), " ".join(t for t, _ in parsed[first_unit:]))
        if all(lab in _STREET_LABELS for lab in labels):
            return line, ""
    tokens = line.split()
    for i in range(2, len(tokens)):
        if tokens[i] in UNIT_DESIGNATORS and i + 1 <= len(tokens):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    return line, ""


def parse_block(lines: Sequence[str]) -> Address:
    """Name, company, street and unit from the block's rows above its CITY line (already upper-case)."""
    kept = [
        ln
        for ln in (clean(x) for x in lines)
        if ln and not (_PHONE.search(ln) and not _starts_with_house_number(ln))
    ]
    street_at = None
    for i in range(len(kept) - 1, -1, -1):
        if _starts_with_house_number(kept[i]) or _PO_BOX.match(kept[i]):
            street_at = i
            break
    address = Address()
    if street_at is None:
        people = kept[:1]
    else:
        street, unit = split_street_unit(kept[street_at])
        extra_units = [ln for ln in kept[street_at + 1 :] if _is_unit_line(ln)]
        units = " ".join(u for u in (normalize_unit(unit), *map(normalize_unit, extra_units)) if u)
        address.street = normalize_street(street) or None
        address.street_readings = street_readings(street)[1:]
        address.unit = units or None
        people = kept[:street_at]
        # A second delivery line above the street ("BLDG 4", "STE 200") is a unit, not a company.
        while people and _is_unit_line(people[-1]):
            address.unit = " ".join(x for x in (normalize_unit(people.pop()), address.unit) if x)
    _assign_people(address, people)
    return address


def _mostly_letters(line: str) -> bool:
    """A person or organisation line is mostly letters: a stray number (a sort code, `10`) is not a name."""
    return sum(c.isalpha() for c in line) > len(line.replace(" ", "")) / 2


def _assign_people(address: Address, people: list[str]) -> None:
    names: list[str] = []
    companies: list[str] = []
    people = [ln for ln in people if _mostly_letters(ln)]
    for ln in people[:3]:
        m = _ATTN.match(ln)
        if m and ln[m.end() :]:
            names.insert(0, ln[m.end() :])
        elif set(ln.split()) & COMPANY_WORDS:
            companies.append(ln)
        else:
            names.append(ln)
    if not names and len(companies) > 1:
        names.append(companies.pop(0))
    if len(names) > 1 and not companies:
        companies.append(names.pop(1))  # the usual order on labels: person, then organisation
    address.name = normalize_name(names[0]) if names else None
    address.company = normalize_name(companies[0]) if companies else None
