"""USPS-style normal forms for address parts, so OCR'd labels and manifest rows compare like for like.

Tables follow USPS Publication 28 (appendix C1 street suffixes, C2 secondary unit designators, state codes),
limited to the forms seen on US parcel labels. Both sides of every comparison go through the same functions,
so consistency matters more than covering every rare variant.
"""

from __future__ import annotations

import math
import numbers
import re

STREET_SUFFIXES: dict[str, str] = {
    "ALLEY": "ALY", "ALLY": "ALY", "ANNEX": "ANX", "ARCADE": "ARC", "AVENUE": "AVE", "AVENU": "AVE", "AVEN": "AVE",
    "AVN": "AVE", "AVNUE": "AVE", "AV": "AVE", "BAYOU": "BYU", "BEACH": "BCH", "BEND": "BND", "BLUFF": "BLF",
    "BOTTOM": "BTM", "BOULEVARD": "BLVD", "BOUL": "BLVD", "BOULV": "BLVD", "BRANCH": "BR", "BRIDGE": "BRG",
    "BROOK": "BRK", "BYPASS": "BYP", "CAMP": "CP", "CANYON": "CYN", "CAPE": "CPE", "CAUSEWAY": "CSWY",
    "CENTER": "CTR", "CENTRE": "CTR", "CENTR": "CTR", "CNTR": "CTR", "CIRCLE": "CIR", "CIRC": "CIR", "CRCL": "CIR",
    "CLIFF": "CLF", "CLUB": "CLB", "COMMON": "CMN", "CORNER": "COR", "COURSE": "CRSE", "COURT": "CT",
    "COURTS": "CTS", "COVE": "CV", "CREEK": "CRK", "CRESCENT": "CRES", "CROSSING": "XING", "DALE": "DL",
    "DRIVE": "DR", "DRIV": "DR", "DRV": "DR", "ESTATE": "EST", "ESTATES": "ESTS", "EXPRESSWAY": "EXPY",
    "EXTENSION": "EXT", "FALLS": "FLS", "FERRY": "FRY", "FIELD": "FLD", "FIELDS": "FLDS", "FLAT": "FLT",
    "FORD": "FRD", "FOREST": "FRST", "FORGE": "FRG", "FORK": "FRK", "FORT": "FT", "FREEWAY": "FWY",
    "GARDEN": "GDN", "GARDENS": "GDNS", "GATEWAY": "GTWY", "GLEN": "GLN", "GREEN": "GRN", "GROVE": "GRV",
    "HARBOR": "HBR", "HAVEN": "HVN", "HEIGHTS": "HTS", "HIGHWAY": "HWY", "HIWAY": "HWY", "HILL": "HL",
    "HILLS": "HLS", "HOLLOW": "HOLW", "ISLAND": "IS", "JUNCTION": "JCT", "KNOLL": "KNL", "LAKE": "LK",
    "LAKES": "LKS", "LANDING": "LNDG", "LANE": "LN", "LIGHT": "LGT", "LODGE": "LDG", "MANOR": "MNR",
    "MEADOW": "MDW", "MEADOWS": "MDWS", "MILL": "ML", "MISSION": "MSN", "MOUNT": "MT", "MOUNTAIN": "MTN",
    "ORCHARD": "ORCH", "PARKWAY": "PKWY", "PARKWY": "PKWY", "PKWAY": "PKWY", "PINE": "PNE", "PINES": "PNES",
    "PLACE": "PL", "PLAIN": "PLN", "PLAINS": "PLNS", "PLAZA": "PLZ", "POINT": "PT", "PORT": "PRT",
    "PRAIRIE": "PR", "RANCH": "RNCH", "RIDGE": "RDG", "RIVER": "RIV", "ROAD": "RD", "ROUTE": "RTE",
    "SHORE": "SHR", "SPRING": "SPG", "SPRINGS": "SPGS", "SQUARE": "SQ", "STATION": "STA", "STREAM": "STRM",
    "STREET": "ST", "STR": "ST", "STRT": "ST", "SUMMIT": "SMT", "TERRACE": "TER", "TRACE": "TRCE",
    "TRAIL": "TRL", "TUNNEL": "TUNL", "TURNPIKE": "TPKE", "VALLEY": "VLY", "VIEW": "VW", "VILLAGE": "VLG",
    "VISTA": "VIS",
}  # fmt: skip
"""Street suffix spellings → USPS abbreviation (suffixes already abbreviated map to themselves implicitly)."""

UNIT_DESIGNATORS: dict[str, str] = {
    "APARTMENT": "APT", "APT": "APT", "BUILDING": "BLDG", "BLDG": "BLDG", "BASEMENT": "BSMT", "BSMT": "BSMT",
    "DEPARTMENT": "DEPT", "DEPT": "DEPT", "FLOOR": "FL", "FL": "FL", "HANGAR": "HNGR", "LOT": "LOT",
    "OFFICE": "OFC", "OFC": "OFC", "PENTHOUSE": "PH", "PH": "PH", "PIER": "PIER", "ROOM": "RM", "RM": "RM",
    "SPACE": "SPC", "SPC": "SPC", "SUITE": "STE", "STE": "STE", "TRAILER": "TRLR", "TRLR": "TRLR",
    "UNIT": "UNIT", "#": "#",
}  # fmt: skip
"""Secondary unit designators → USPS abbreviation."""

DIRECTIONALS: dict[str, str] = {
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
    "SOUTHEAST": "SE", "SOUTHWEST": "SW", "N": "N", "S": "S", "E": "E", "W": "W", "NE": "NE", "NW": "NW",
    "SE": "SE", "SW": "SW",
}  # fmt: skip

STATE_NAMES: dict[str, str] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA", "COLORADO": "CO",
    "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
    "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA",
    "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT",
    "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM",
    "NEW YORK": "NY", "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK",
    "OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY", "PUERTO RICO": "PR", "GUAM": "GU",
    "VIRGIN ISLANDS": "VI", "AMERICAN SAMOA": "AS", "NORTHERN MARIANA ISLANDS": "MP",
}  # fmt: skip
STATES: frozenset[str] = frozenset(STATE_NAMES.values()) | {"AA", "AE", "AP"}
"""USPS state, territory and military codes."""

_LETTER_FOR_DIGIT = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}
_DIGIT_FOR_LETTER = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2", "G": "6"}


def clean(text: str | None) -> str:
    """Upper case, punctuation stripped (`#`, `-` and `/` kept: units, ZIP+4, ½), whitespace collapsed."""
    if not isinstance(text, str):
        return ""
    text = text.upper().replace("#", " # ")
    text = re.sub(r"[^\w\s#/\-]|_", " ", text)
    text = re.sub(r"(?<!\w)-|-(?!\w)", " ", text)
    return " ".join(text.split())


def fix_digits(token: str) -> str:
    """A token that should be numeric with OCR letters mapped back (`1O2` → `102`); others unchanged."""
    mapped = "".join(_DIGIT_FOR_LETTER.get(c, c) for c in token)
    return mapped if mapped.isdigit() and any(c.isdigit() for c in token) else token


def fix_letters(token: str) -> str:
    """A token that should be alphabetic (a state code) with OCR digits mapped back (`0H` → `OH`)."""
    return "".join(_LETTER_FOR_DIGIT.get(c, c) for c in token)


_ORDINAL_SUFFIXES = {
    "ST": "ST",
    "ND": "ND",
    "NO": "ND",
    "RD": "RD",
    "RO": "RD",
    "TH": "TH",
}  # D read as 0 → O


def fix_word(token: str) -> str:
    """One word of a name, city or street with OCR digit/letter confusions undone by its majority.

    `MYER5` → `MYERS`, `I02ND` → `102ND`; pure words, pure numbers and mixed identifiers (`4B`) stay as read.
    """
    letters = sum(c.isalpha() for c in token)
    digits = sum(c.isdigit() for c in token)
    if not letters or not digits:
        return token
    m = re.fullmatch(r"([0-9OIDLSBZQG]+?)([A-Z0-9]{2})", token)  # an ordinal: `I02ND`, `22N0`
    suffix = _ORDINAL_SUFFIXES.get(fix_letters(m.group(2))) if m else None
    if m and suffix and fix_digits(m.group(1)).isdigit():
        return fix_digits(m.group(1)) + suffix
    return fix_letters(token) if letters >= digits else token


def fix_words(text: str) -> str:
    """`fix_word` on every whitespace-separated word."""
    return " ".join(fix_word(t) for t in text.split())


def normalize_state(text: str | None) -> str | None:
    """Two-letter USPS code from a code or full name (`New York` → `NY`), else None."""
    t = clean(text)
    if not t:
        return None
    if t in STATE_NAMES:
        return STATE_NAMES[t]
    code = fix_letters(t.replace(" ", ""))
    return code if code in STATES else None


def normalize_zip(text: object) -> str | None:
    """`12345` or `12345-6789` from a string or number (manifests lose leading zeros: 7102 → `07102`)."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, numbers.Real):  # also numpy scalars
        value = float(text)
        if not math.isfinite(value) or value < 0 or value >= 1e9:
            return None
        digits = str(int(value))
        return digits.zfill(5) if len(digits) <= 5 else digits.zfill(9)[:5] + "-" + digits.zfill(9)[5:]
    if not isinstance(text, str):
        return None
    compact = "".join(fix_digits(t) for t in re.split(r"[\s\-]+", text.strip().upper()) if t)
    if re.fullmatch(r"\d{5}", compact):
        return compact
    if re.fullmatch(r"\d{9}", compact):
        return compact[:5] + "-" + compact[5:]
    return None


def ordinal_suffix(number: str) -> str:
    """The English ordinal suffix of a street number: 1ST 2ND 3RD 4TH … 11TH 12TH 13TH … 21ST 22ND."""
    n = int(number)
    if n % 100 in (11, 12, 13):
        return "TH"
    return {1: "ST", 2: "ND", 3: "RD"}.get(n % 10, "TH")


def ordinal_splits(token: str) -> list[tuple[str, str]]:
    """A house number glued to an ordinal street name, split every way the ordinal stays well-formed:
    `84407TH` → [(`8440`, `7TH`), (`84`, `407TH`), (`8`, `4407TH`)], the shortest street number first
    (street numbers are short, house numbers long). The suffix must be the one the number takes (`2TH` is
    not an ordinal), and neither part may start with 0; no split → []."""
    m = re.fullmatch(r"(\d{2,})(ST|ND|RD|TH)", token)
    if m is None:
        return []
    digits, suffix = m.groups()
    out = []
    for k in range(len(digits) - 1, 0, -1):
        house, street = digits[:k], digits[k:]
        if house[0] != "0" and street[0] != "0" and ordinal_suffix(street) == suffix:
            out.append((house, street + suffix))
    return out


def _glued_ordinal(tokens: list[str]) -> bool:
    """The line starts with an ordinal followed only by a street suffix or directional (`84407TH AVE`): with
    no house number left, OCR must have dropped the space between the house number and the ordinal."""
    cut = next((i for i, t in enumerate(tokens) if i >= 2 and t in UNIT_DESIGNATORS), len(tokens))
    rest = [t for t in tokens[1:cut] if t not in DIRECTIONALS]
    return (
        bool(ordinal_splits(tokens[0]))
        and len(rest) <= 1
        and all(t in STREET_SUFFIXES or t in STREET_SUFFIXES.values() for t in rest)
    )


def _split_house_number(tokens: list[str], split: int = 0) -> list[str]:
    """`123MAIN` → `123 MAIN` (OCR dropped the space); ordinals such as `42ND` stay whole, except before
    nothing but a suffix (`84407TH AVE` → `8440 7TH AVE`, the `split`-th of `ordinal_splits`)."""
    if tokens:
        m = re.fullmatch(r"(\d+)([A-Z]{2,})", tokens[0])
        if m and not re.fullmatch(r"(ST|ND|RD|TH)", m.group(2)):
            return [m.group(1), m.group(2), *tokens[1:]]
        if m and _glued_ordinal(tokens):
            splits = ordinal_splits(tokens[0])
            return [*splits[min(split, len(splits) - 1)], *tokens[1:]]
    return tokens


def street_readings(text: str | None) -> list[str]:
    """Every plausible USPS form of a delivery line, `normalize_street(text)` first: more than one only when
    a house number is glued to an ordinal street name, which can split several ways (`84407TH AVE`)."""
    first = normalize_street(text)
    tokens = clean(text).split()
    if not tokens or not _glued_ordinal(tokens):
        return [first] if first else []
    n = len(ordinal_splits(tokens[0]))
    return [first, *(normalize_street(text, split=k) for k in range(1, n))]


def normalize_street(text: str | None, *, split: int = 0) -> str:
    """USPS form of a delivery line: `123 North Main Street, Apt. 4` → `123 N MAIN ST APT 4`.

    `split` picks another reading of a house number glued to an ordinal (see `street_readings`)."""
    tokens = _split_house_number(clean(text).split(), split)
    if not tokens:
        return ""
    if re.fullmatch(r"[\dOIDLSBZQG]+", tokens[0]) and 2 * sum(c.isdigit() for c in tokens[0]) >= len(
        tokens[0]
    ):
        tokens[0] = fix_digits(tokens[0])  # house number: `S23` → `523`
    # Where does the unit part start? At the first designator after the street name.
    cut = len(tokens)
    for i in range(2, len(tokens)):
        if tokens[i] in UNIT_DESIGNATORS and (i + 1 < len(tokens) or tokens[i] == "#"):
            cut = i
            break
    street, unit = tokens[:1] + [fix_word(t) for t in tokens[1:cut]], tokens[cut:]
    if len(street) >= 3 and street[1] in DIRECTIONALS:
        street[1] = DIRECTIONALS[street[1]]
    if len(street) >= 3 and street[-1] in DIRECTIONALS:
        street[-1] = DIRECTIONALS[street[-1]]
        last = -2
    else:
        last = -1
    if len(street) >= 2 and street[last] in STREET_SUFFIXES and len(street) + last >= 1:
        street[last] = STREET_SUFFIXES[street[last]]
    unit_norm = normalize_unit(" ".join(unit))
    return " ".join([*street, unit_norm]).strip()


def normalize_unit(text: str | None) -> str:
    """`Suite #200` → `STE 200`, `# 4B` → `# 4B`, `Apartment 3` → `APT 3`."""
    tokens = clean(text).split()
    if not tokens:
        return ""
    if tokens[0] in UNIT_DESIGNATORS:
        designator = UNIT_DESIGNATORS[tokens[0]]
        rest = [t for t in tokens[1:] if t != "#"]
        return " ".join([designator, *rest]) if rest else designator
    return " ".join(tokens)


def normalize_name(text: str | None) -> str:
    """Upper case, punctuation stripped, whitespace collapsed, OCR digits in words mapped (`R0BERT`)."""
    return fix_words(clean(text).replace("#", ""))


def compact(text: str | None) -> str:
    """Letters and digits only: for comparing strings whose spaces OCR may have dropped (`NEWYORK`)."""
    return re.sub(r"[^0-9A-Z]", "", clean(text))
