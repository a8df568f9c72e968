"""Tracking numbers: find them among recognised rows, name the carrier, check (and carefully repair) them.

Formats and check-digit rules follow the public spec in jkeen/tracking_number_data (see docs/extraction.md).
OCR confuses letters and digits (O/0, I/1, S/5, B/8, Z/2, ...). A letter where the format only allows a digit
(or the reverse for a fixed prefix such as `1Z`) has one reading, so it is mapped outright; where the format
allows both (the UPS shipper/service characters) a confusion is a real ambiguity, so we search substitutions
and accept one only when it is the *single* edit, at the smallest edit count, that makes the check digit pass.
Every mapped or searched substitution counts toward `MAX_REPAIRS`.

Longer than our usual module on purpose: every carrier's format, check digit and repair rule sits in one table
and one search, so a new carrier is one place to change.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from podocr.extract.layout import Row

MAX_REPAIRS = 2
"""Most character substitutions (mapped + searched) a candidate may need; beyond it the string is not a number."""

DIGITS = "0123456789"
ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_CONFUSIONS = (
    ("O", "0"),
    ("D", "0"),
    ("Q", "0"),
    ("I", "1"),
    ("L", "1"),
    ("S", "5"),
    ("B", "8"),
    ("Z", "2"),
    ("G", "6"),
)
SWAPS: dict[str, str] = {}
"""Each character → the characters OCR mistakes it for (symmetric letter↔digit pairs)."""
for _a, _b in _CONFUSIONS:
    SWAPS[_a] = SWAPS.get(_a, "") + _b
    SWAPS[_b] = SWAPS.get(_b, "") + _a

TRACKING_WORDS = frozenset({"TRACKING", "TRACK", "TRK", "WAYBILL", "AWB", "TRACKINGNUMBER", "TRACKING#"})
"""A row mentioning one of these labels its number as a tracking number (allows reporting it unvalidated)."""

NOT_TRACKING_WORDS = frozenset(
    {"REF", "REF1", "REF2", "REFERENCE", "PO", "P.O.", "INV", "INVOICE", "ORDER", "ORD", "ACCT", "ACCOUNT",
     "DEPT", "RMA", "CUST", "CUSTOMER", "TEL", "PHONE", "PH", "CELL", "FAX", "MOBILE", "DATE", "SHIPDATE",
     "WT", "WEIGHT", "DIMS", "DIM", "BILLING", "MRN", "SKU", "ITEM", "LOT", "SERIAL", "CAD", "ACTWGT"}
)  # fmt: skip
"""Words just before a bare digit run that mark it as a reference/phone/account number, not a tracking number."""


# ---- check digits --------------------------------------------------------------------------------------------
def _value(ch: str) -> int:
    """UPS rule for characters in the mod-10 sum: digits are themselves, letters (ord - 3) mod 10."""
    return int(ch) if ch.isdigit() else (ord(ch) - 3) % 10


def ups_check_digit(body15: str) -> int:
    """UPS: the 15 characters after `1Z`, weights 1,2,1,2,… from the left, check = (10 - sum mod 10) mod 10."""
    total = sum(_value(c) * (2 if i % 2 else 1) for i, c in enumerate(body15))
    return (10 - total % 10) % 10


def mod10_31_check_digit(digits: str) -> int:
    """USPS 20/IMpb, FedEx Ground 15 and 96: weights 3,1,3,… from the rightmost payload digit, mod 10."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def fedex12_check_digit(body11: str) -> int:
    """FedEx Express 12: weights 3,1,7 repeating from the left over 11 digits, sum mod 11 mod 10."""
    weights = (3, 1, 7)
    return sum(int(d) * weights[i % 3] for i, d in enumerate(body11)) % 11 % 10


def dhl_check_digit(body9: str) -> int:
    """DHL Express 10-digit waybill: the first 9 digits read as a number, mod 7."""
    return int(body9) % 7


def _ups_ok(n: str) -> bool:
    return ups_check_digit(n[2:17]) == int(n[17])


def _mod10_ok(n: str) -> bool:
    return mod10_31_check_digit(n[:-1]) == int(n[-1])


def _fedex96_ok(n: str) -> bool:
    return mod10_31_check_digit(n[7:21]) == int(n[21])  # only the 14-digit serial is summed


def _fedex12_ok(n: str) -> bool:
    return fedex12_check_digit(n[:11]) == int(n[11])


def _dhl_ok(n: str) -> bool:
    return dhl_check_digit(n[:9]) == int(n[9])


# ---- formats -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrackingFormat:
    """One printed tracking-number shape: allowed characters per position, and its check."""

    kind: str  # stable name, e.g. "usps_impb"
    carrier: str  # ups | fedex | usps | amazon | dhl
    shape: tuple[str, ...]  # allowed characters at each position
    check: Callable[[str], bool] | None  # None: the format has no check digit
    strong: bool  # a prefix specific enough to report the number even when its check digit fails


def _shape(*parts: tuple[str, int]) -> tuple[str, ...]:
    return tuple(itertools.chain.from_iterable([chars] * n for chars, n in parts))


FORMATS: tuple[TrackingFormat, ...] = (
    # UPS: 6 shipper characters, a 2-character service code whose second character is a digit in every
    # published code (01, 03, 42, A8, …), 7 package digits, the check digit.
    TrackingFormat("ups", "ups", _shape(("1", 1), ("Z", 1), (ALNUM, 7), (DIGITS, 9)), _ups_ok, True),
    TrackingFormat("amazon_tba", "amazon", _shape(("T", 1), ("B", 1), ("A", 1), (DIGITS, 12)), None, True),
    TrackingFormat("fedex_ground_96", "fedex", _shape(("9", 1), ("6", 1), (DIGITS, 20)), _fedex96_ok, True),
    TrackingFormat("usps_impb", "usps", _shape(("9", 1), ("12345", 1), (DIGITS, 20)), _mod10_ok, True),
    TrackingFormat("usps_impb", "usps", _shape(("9", 1), ("12345", 1), (DIGITS, 24)), _mod10_ok, True),
    TrackingFormat("usps_20", "usps", _shape((DIGITS, 20)), _mod10_ok, False),
    TrackingFormat("fedex_ground_15", "fedex", _shape((DIGITS, 15)), _mod10_ok, False),
    TrackingFormat("fedex_express_12", "fedex", _shape((DIGITS, 12)), _fedex12_ok, False),
    TrackingFormat("dhl_express", "dhl", _shape((DIGITS, 10)), _dhl_ok, False),
)
UNCHECKED_KINDS = frozenset(f.kind for f in FORMATS if f.check is None)
_BY_LENGTH: dict[int, list[TrackingFormat]] = {}
for _f in FORMATS:
    _BY_LENGTH.setdefault(len(_f.shape), []).append(_f)

USPS_ROUTING_LENGTHS = (8, 12)
"""`420` + ZIP5 or ZIP+4 routing prefix that USPS barcodes put before the IMpb tracking number."""

MAX_NUMBER_LENGTH = 40

UNKNOWN_MIN_CHARS = 10
UNKNOWN_MAX_CHARS = 35
UNKNOWN_MIN_DIGITS = 6
"""A string of no known format is kept as a tracking number (carrier "") only when it is one alphanumeric run
this long with at least this many digits, and (on OCR) printed on a row labelled TRACKING / TRK: new carriers
(SpeedX `SPX…`, OnTrac, LaserShip, regional couriers) print formats no table lists."""


@dataclass(frozen=True, slots=True)
class TrackingMatch:
    """A string read as one tracking number."""

    number: str  # canonical: upper case, no spaces, repaired if `repaired`, USPS routing prefix removed
    carrier: str
    kind: str
    valid: bool  # check digit passes (format-only for Amazon, which has none)
    repaired: bool  # `number` differs from what OCR read (beyond spacing and the routing prefix)
    strong: bool  # shape specific enough to stand without a passing check digit

    @property
    def checked(self) -> bool:
        """The format has a check digit (so `valid` is evidence, not just the right shape)."""
        return self.kind not in UNCHECKED_KINDS

    @property
    def tier(self) -> int:
        """2 valid as read, 1 valid after repair, 0 not valid: the first ranking key."""
        return 0 if not self.valid else (1 if self.repaired else 2)


def _fit(raw: str, shape: tuple[str, ...]) -> tuple[list[str], int, list[int]] | None:
    """Map `raw` onto `shape`: the characters, how many were mapped outright, positions open to search."""
    out: list[str] = []
    mapped = 0
    open_positions: list[int] = []
    for i, (ch, allowed) in enumerate(zip(raw, shape, strict=True)):
        if ch in allowed:
            out.append(ch)
            if len(allowed) > 10 and ch in SWAPS:  # alphanumeric position: a confusion is ambiguous
                open_positions.append(i)
            continue
        alternatives = [a for a in SWAPS.get(ch, "") if a in allowed]
        if len(alternatives) != 1:
            return None
        out.append(alternatives[0])
        mapped += 1
        if mapped > MAX_REPAIRS:
            return None
    return out, mapped, open_positions


def _fit_exact(raw: str, shape: tuple[str, ...]) -> tuple[list[str], int, list[int]] | None:
    """`_fit` without any mapping or search: every character must already be allowed."""
    if all(ch in allowed for ch, allowed in zip(raw, shape, strict=True)):
        return list(raw), 0, []
    return None


def _search(chars: list[str], positions: list[int], budget: int, check: Callable[[str], bool]) -> str | None:
    """The one substitution set (smallest size first, ≤ budget) that passes `check`; None if none or several."""
    for k in range(1, budget + 1):
        passing: list[str] = []
        for combo in itertools.combinations(positions, k):
            for replacement in itertools.product(*(SWAPS[chars[p]] for p in combo)):
                trial = chars.copy()
                for p, r in zip(combo, replacement, strict=True):
                    trial[p] = r
                text = "".join(trial)
                if check(text):
                    passing.append(text)
                    if len(passing) > 1:
                        return None  # ambiguous at the smallest edit count: refuse to guess
        if passing:
            return passing[0]
    return None


def _match_format(raw: str, fmt: TrackingFormat, repair: bool = True) -> TrackingMatch | None:
    fitted = _fit(raw, fmt.shape) if repair else _fit_exact(raw, fmt.shape)
    if fitted is None:
        return None
    chars, mapped, positions = fitted
    if fmt.check is None:
        return TrackingMatch("".join(chars), fmt.carrier, fmt.kind, True, mapped > 0, fmt.strong)
    text = "".join(chars)
    if fmt.check(text):
        return TrackingMatch(text, fmt.carrier, fmt.kind, True, mapped > 0, fmt.strong)
    repaired = _search(chars, positions, MAX_REPAIRS - mapped, fmt.check) if positions else None
    if repaired is not None:
        return TrackingMatch(repaired, fmt.carrier, fmt.kind, True, True, fmt.strong)
    # Not valid: report what was read; a prefix that needed mapping is too weak to call the shape "strong".
    prefix_mapped = any(raw[i] != chars[i] for i, allowed in enumerate(fmt.shape) if len(allowed) == 1)
    return TrackingMatch(raw, fmt.carrier, fmt.kind, False, False, fmt.strong and not prefix_mapped)


def _better(a: TrackingMatch | None, b: TrackingMatch | None) -> TrackingMatch | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if (b.tier, b.strong) > (a.tier, a.strong) else a


def match_tracking(text: str, *, allow_dhl: bool = True, repair: bool = True) -> TrackingMatch | None:
    """Read the whole of `text` (spaces and `-` ignored, any case) as one tracking number, or None.

    `repair=False` checks the string exactly as written (no confusion mapping, no search).
    """
    raw = re.sub(r"[\s\-]+", "", text.upper()) if isinstance(text, str) else ""
    if not 10 <= len(raw) <= MAX_NUMBER_LENGTH or not raw.isalnum() or not raw.isascii():
        return None
    best: TrackingMatch | None = None
    for fmt in _BY_LENGTH.get(len(raw), ()):
        if fmt.carrier == "dhl" and not allow_dhl:
            continue
        best = _better(best, _match_format(raw, fmt, repair))
    routed = _strip_usps_routing(raw, repair)
    if routed is not None and routed.valid:
        best = _better(best, routed)
    return best


def _strip_usps_routing(raw: str, repair: bool = True) -> TrackingMatch | None:
    """`420`+ZIP(+4) followed by an IMpb number: the tracking number is the IMpb part."""
    if (_fit(raw[:3], ("4", "2", "0")) if repair else _fit_exact(raw[:3], ("4", "2", "0"))) is None:
        return None
    best: TrackingMatch | None = None
    for cut in USPS_ROUTING_LENGTHS:
        rest = raw[cut:]
        for fmt in _BY_LENGTH.get(len(rest), ()):
            if fmt.kind == "usps_impb":
                best = _better(best, _match_format(rest, fmt, repair))
    return best


def unknown_tracking(text: str) -> TrackingMatch | None:
    """`text` kept as a tracking number of an unknown format (carrier "", never valid), if it looks like one."""
    raw = re.sub(r"[\s\-]+", "", text.upper()) if isinstance(text, str) else ""
    if not (UNKNOWN_MIN_CHARS <= len(raw) <= UNKNOWN_MAX_CHARS) or not (raw.isascii() and raw.isalnum()):
        return None
    if sum(c.isdigit() for c in raw) < UNKNOWN_MIN_DIGITS:
        return None
    return TrackingMatch(raw, "", "unknown", False, False, False)


def confusable_equal(a: str, b: str) -> bool:
    """Same length and every differing character is an OCR confusion pair (`S`/`5`, `B`/`8`, …).

    Some confusions leave a check digit passing (UPS doubles `S`=0 and `5` alike to 0 mod 10), so two valid
    numbers that differ only so are one number read twice, not two parcels.
    """
    return len(a) == len(b) and all(x == y or y in SWAPS.get(x, "") for x, y in zip(a, b, strict=True))


def canonical_tracking(text: str | None) -> str | None:
    """A comparable form: the matched number when `text` reads as one, else its upper-case letters and digits."""
    if not isinstance(text, str):
        return None
    found = match_tracking(text)
    if found is not None and found.valid:
        return found.number
    compact = re.sub(r"[^0-9A-Z]", "", text.upper())
    return compact or None


# ---- finding numbers on a page -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrackingCandidate:
    """A tracking number found on the page, with the evidence used to rank it."""

    match: TrackingMatch
    confidence: float  # lowest OCR confidence among the pieces it was read from
    height: float  # text height (px): bigger print ranks higher among equals
    labelled: bool  # its row says TRACKING / TRK / WAYBILL
    row_index: int

    @property
    def rank_key(self) -> tuple[int, bool, float, float]:
        """Validity first (as read > repaired > not valid), then shape strength, confidence, text size."""
        return (self.match.tier, self.match.strong or self.labelled, self.confidence, self.height)


_TOKEN_SPLIT = re.compile(r"[\s:#()\[\],;*]+")
_WORD_THEN_NUMBER = re.compile(r"([A-Z]{3,})(\d.*)")


def _tokens(text: str) -> list[str]:
    """Row text → tokens, with a glued label word split off a number ("TRK774912345678")."""
    out: list[str] = []
    for tok in _TOKEN_SPLIT.split(text):
        if not tok:
            continue
        m = _WORD_THEN_NUMBER.fullmatch(tok)
        if m and not tok.startswith("TBA"):
            out.extend(m.groups())
        else:
            out.append(tok)
    return out


def _numberish(tok: str) -> bool:
    """Could this token be (part of) a tracking number? UPS prints letter-only groups (`1Z UP7 NAY 03 …`)."""
    if not tok.isalnum() or not tok.isascii():
        return False
    return len(tok) <= 4 or any(c.isdigit() for c in tok)


def find_tracking(rows: Sequence[Row], *, page_text: str = "") -> list[TrackingCandidate]:
    """Every tracking-number candidate on the page, best first (see `TrackingCandidate.rank_key`).

    A number may be spread over several tokens of one row ("1Z 5R8 939 03 5756 7127") and several OCR pieces
    (rows are already joined left→right). Bare digit runs (12/15/20/10 digits) are accepted only when the
    check digit passes, they are not part of a longer digit run, and no reference/phone word precedes them;
    DHL 10-digit waybills also need "DHL"/"WAYBILL"/"AWB" somewhere on the page.
    """
    allow_dhl = bool(re.search(r"\b(DHL|WAYBILL|AWB)\b", page_text.upper()))
    found: dict[str, TrackingCandidate] = {}
    for r, row in enumerate(rows):
        tokens = _tokens(row.text)
        words = {t.rstrip(".") for t in tokens}
        labelled = bool(words & TRACKING_WORDS) or "TRACKING" in row.text
        spans: list[tuple[int, int, TrackingMatch]] = []
        for i, tok in enumerate(tokens):
            if not _numberish(tok):
                continue
            raw = ""
            for j in range(i, len(tokens)):
                if not _numberish(tokens[j]):
                    break
                raw += tokens[j]
                if len(raw) > MAX_NUMBER_LENGTH:
                    break
                if len(raw) < 10:
                    continue
                m = match_tracking(raw, allow_dhl=allow_dhl)
                if m is None or not _acceptable(m, tokens, i, j, labelled):
                    continue
                spans.append((i, j, m))
        if labelled and not any(m.valid for _, _, m in spans):
            unknown = _unknown_on_row(tokens)
            if unknown is not None:
                spans.append(unknown)
        for i, j, m in spans:
            if any(a <= i and j <= b and (a, b) != (i, j) and _outranks(o, m) for a, b, o in spans):
                continue  # part of a longer number on this row that reads as well or is a surer shape
            cand = TrackingCandidate(m, row.confidence, row.height, labelled, r)
            old = found.get(m.number)
            if old is None or cand.rank_key > old.rank_key:
                found[m.number] = cand
    return sorted(found.values(), key=lambda c: c.rank_key, reverse=True)


def _unknown_on_row(tokens: list[str]) -> tuple[int, int, TrackingMatch] | None:
    """The longest run of number-like tokens on a TRACKING-labelled row, as an unknown-format number."""
    best: tuple[int, int, TrackingMatch] | None = None
    i = 0
    while i < len(tokens):
        if not _numberish(tokens[i]) or tokens[i].rstrip(".") in TRACKING_WORDS:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _numberish(tokens[j + 1]):
            j += 1
        start = i
        before = tokens[i - 1].rstrip(".") if i > 0 else ""
        if (
            before.isalpha()
            and 2 <= len(before) <= 6
            and not {before} & (TRACKING_WORDS | NOT_TRACKING_WORDS)
        ):
            start = i - 1  # a carrier's letter prefix split off by the tokenizer (`SPXLAX` `0123…`)
        m = unknown_tracking("".join(tokens[start : j + 1]))
        if m is not None and (best is None or len(m.number) > len(best[2].number)):
            best = (start, j, m)
        i = j + 1
    return best


def _mostly_digits(tok: str) -> bool:
    return tok.isalnum() and 2 * sum(c.isdigit() for c in tok) > len(tok)


def _outranks(container: TrackingMatch, inner: TrackingMatch) -> bool:
    """Does a longer candidate around `inner` make `inner` a slice of it?"""
    return container.tier >= inner.tier or (container.valid and container.strong and not inner.strong)


def _acceptable(m: TrackingMatch, tokens: list[str], i: int, j: int, labelled: bool) -> bool:
    if m.strong or m.kind == "unknown":
        return True
    if not (m.valid or labelled):
        return False
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[j + 1] if j + 1 < len(tokens) else ""
    if _mostly_digits(before) or _mostly_digits(after):
        return False  # a slice of a longer digit run (neighbours may carry OCR letters: `8G85`)
    context = {t.rstrip(".") for t in tokens[max(0, i - 2) : i]}
    return not context & NOT_TRACKING_WORDS
