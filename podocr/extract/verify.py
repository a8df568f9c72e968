"""Does the photo show the parcel the manifest expected, at the address expected? match / mismatch / unreadable.

Every comparison runs on normalised forms (see `normalize.py`), so "123 Main Street" on the manifest equals
"123 MAIN ST" on the label. Tracking-number equality is the strongest evidence in both directions: the manifest's
number anywhere on the label (hybrid labels carry two) means the right parcel, a different validated number the
wrong one (`mismatch_kind` `other_parcel`). The right parcel can still be at the wrong address — the customer
corrected it after printing, a misprint, a relabel — so on the same parcel one confident read of a delivery-point
field (house number, street, city, ZIP) that contradicts the manifest, in a block recognisably the manifest's
delivery, is `address_differs`; a block unlike it everywhere is another one (old label, post office) read instead. A name alone that
differs is `recipient_differs`: reported, a mismatch only when configured. Without tracking evidence the weighted
address score decides. Reads below the evidence confidence never count against the expectation.

Longer than our usual module on purpose: the verdict, its kinds and the per-field evidence rules are one
decision, and reading them together is how a false alarm gets traced.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from rapidfuzz import fuzz

from podocr.extract.address import Address, split_street_unit
from podocr.extract.fusion import LabelNumber
from podocr.extract.normalize import (
    clean,
    compact,
    normalize_name,
    normalize_state,
    normalize_street,
    normalize_zip,
)
from podocr.extract.tracking import TrackingMatch, canonical_tracking, confusable_equal, match_tracking

FIELD_WEIGHTS: dict[str, float] = {"zip": 0.30, "street": 0.30, "city": 0.15, "state": 0.10, "name": 0.15}
"""Share of each address field in `address_match_score`: ZIP and street pin a delivery point; city and state
mostly repeat the ZIP; names vary most between manifest and label (initials, order, company vs person)."""

MATCH_THRESHOLD = 0.75
"""`address_match_score` at or above which the address matches. A wrong ZIP alone (weight 0.30) or a wrong
street alone drops a perfect score to 0.70, under the line (then `MISMATCH_MIN_FIELDS` decides between
mismatch and unreadable); one OCR slip in a name or city does not."""

MIN_COMPARABLE_WEIGHT = 0.40
"""Address fields read on both sides must carry at least this weight (e.g. ZIP + city) to judge the address
alone; with less (only a name, or only a state) the label is `unreadable` unless the tracking number decides."""

TRACKING_NEAR_RATIO = 0.85
"""An unvalidated tracking read this similar (normalised Indel ratio) to the expected number is an OCR slip of
it, not a different number, and so is not counted as mismatch evidence."""

CONTRADICTS_BELOW = 0.6
"""A field whose similarity is below this contradicts the expectation: a ZIP or state that differs, another
house number, a street/city/name this unlike. Two unrelated names already score ~0.3–0.55; a right field with
an OCR slip or two scores ≥ 0.8."""

MISMATCH_MIN_FIELDS = 2
"""Without tracking evidence, `mismatch` needs at least this many contradicting fields. Another parcel differs
in most fields; one lone contradicting field among agreeing ones (a misread ZIP digit next to the right city and
state) is more likely an OCR slip, so that case is `unreadable` rather than a false alarm."""

TRACKING_DIFFERENT_BELOW = 0.7
"""An unconfirmed tracking read — a format without a check digit (Amazon), or one valid only after a repair —
counts as another parcel's number only when this unlike the expected one: a repair can make a misread pass
its check digit by chance (1 in 10 for mod-10), and without a check digit any slip reads as another number."""

MIN_EVIDENCE_CONFIDENCE = 0.85
"""OCR confidence (tracking: its lowest piece; address: the block's median row) below which a read is not
trusted as evidence *against* the expectation. On the 300-photo benchmark, 99% of tracking numbers and
recipient blocks read right score above 0.92 / 0.83, and every false alarm came from a read under 0.85
(blurred print read as plausible-looking text); such photos are `unreadable`, not misdeliveries."""

AGREES_FROM = 0.8
"""A field this similar to the expectation agrees with it (one or two OCR slips at most)."""

LOW_CONFIDENCE_MIN_FIELDS = 3
"""A low-confidence block still counts against the expectation when its ZIP and at least this many fields in
all contradict it and none agrees: noise rarely forges a well-formed, different ZIP, state and city at once."""

HOUSE_NUMBER_MISMATCH_CAP = 0.3
"""Street similarity when house numbers differ: same street, other door is a different delivery point."""

DIFFERS_CONFIDENCE = 0.9
"""On the right parcel, a delivery-point field contradicts the manifest only when its own row was read at least
this confidently: one field decides there, so an OCR slip must not (a ZIP from the barcode counts as 1.0)."""

FIELD_ROW = {"name": "name", "street": "street", "city": "city", "state": "city", "zip": "zip"}
"""The block row each address field is read from (`Address.field_confidence` keys)."""

DELIVERY_FIELDS = ("house_number", "street", "city", "zip")
"""The fields that pin the delivery point; the name and state do not (state repeats the ZIP)."""

UNSURE_BLOCK_MIN_AGREEING = 2
"""A block without a recipient keyword may be the sender's (a local sender shares city, state, even ZIP): its
fields count against the manifest only when at least this many name/delivery fields agree with it. On a hybrid
label a SHIP TO block is no surer (it may be the induction post office)."""

SURE_BLOCK_MIN_AGREEING = 1
"""Even a block opened by a recipient keyword must be recognisably the manifest's delivery — its name agrees,
or at least this many delivery fields agree and no more differ — before one field of it may contradict the
manifest: a block that differs in the name and every delivery field is another block (an old label, a
sticker, a post office) read in place of the recipient's, so it is no evidence about the address."""

KINDS = ("other_parcel", "address_differs", "recipient_differs")
"""`mismatch_kind` values."""

LAST_MILE_CARRIER = "usps"
"""The carrier that consolidator services hand parcels to for the last mile (UPS SurePost and Mail Innovations,
FedEx Ground Economy/SmartPost, DHL eCommerce, marketplace consolidators): their labels carry the
consolidator's number and a USPS IMpb, and a shipper's manifest may hold either. So a USPS number read where
the manifest holds another carrier's (or the reverse) may be the other number of the same parcel."""


@dataclass(slots=True)
class Expected:
    """What the manifest says this photo should show; any field may be missing."""

    name: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    tracking: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Expected:
        """From manifest columns `expected_name/street/city/state/zip/tracking`; NaN, None and blanks → None.

        `expected_tracking_number` is accepted for `expected_tracking`; a numeric ZIP regains leading zeros.
        """
        values: dict[str, str | None] = {}
        for f in fields(cls):
            raw = row.get(f"expected_{f.name}")
            if raw is None and f.name == "tracking":
                raw = row.get("expected_tracking_number")
            values[f.name] = _text(raw, is_zip=f.name == "zip")
        return cls(**values)

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def _text(value: Any, *, is_zip: bool = False) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real) and not math.isfinite(value):  # NaN from pandas / numpy
        return None
    if is_zip and isinstance(value, numbers.Real):
        return normalize_zip(value)
    try:
        text = str(value).strip()
    except Exception:  # exotic objects from a manifest cell: treat as missing
        return None
    if text.lower() in ("", "nan", "none", "null", "<na>", "nat"):
        return None
    return text


@dataclass(slots=True)
class Verdict:
    verification: str | None  # match | mismatch | unreadable | None (nothing expected)
    reason: str | None
    score: float | None  # address_match_score
    field_scores: dict[str, float]
    kind: str | None = None  # mismatch_kind: other_parcel | address_differs | recipient_differs | None
    agreement: dict[str, str] = field(default_factory=dict)  # field → agrees | differs | unsure


def _house_number(street: str) -> str:
    head = street.split(" ", 1)[0] if street else ""
    return head if head[:1].isdigit() else ""


def street_similarity(expected: str, street: str | None, unit: str | None) -> float:
    """Normalised street similarity in [0, 1]; differing house numbers cap it (different delivery point)."""
    exp = normalize_street(expected)
    got = normalize_street(street)
    if not exp or not got:
        return 0.0
    candidates = [got]
    if unit:
        candidates.append(normalize_street(f"{street} {unit}"))
    sim = max(fuzz.ratio(exp, c) for c in candidates) / 100
    if _house_number(exp) != _house_number(got):
        sim = min(sim, HOUSE_NUMBER_MISMATCH_CAP)
    return sim


def pick_street_reading(address: Address | None, expected: Expected | None) -> Address | None:
    """The reading of a glued house number + ordinal (`84407TH AVE`) that agrees best with the manifest's
    street: the split is OCR's doing, so the manifest may decide where the space was. Without one (or when no
    reading is closer) the default split stays."""
    if address is None or not address.street_readings or expected is None or not expected.street:
        return address
    readings = [address.street or "", *address.street_readings]
    best = max(readings, key=lambda s: street_similarity(expected.street or "", s, address.unit))
    if best == address.street:
        return address
    others = [s for s in readings if s != best]
    return replace(address, street=best, street_readings=others)


def pick_tracking_reading(tracking: TrackingMatch | None, expected: Expected | None) -> TrackingMatch | None:
    """The manifest's spelling of an OCR-read number that the print cannot tell from it, else the read.

    Two cases, both against a manifest number valid by its check digit and of the read's format: (1) the read
    is valid too and differs only by OCR confusion pairs the check cannot see (UPS counts `S` and `5` alike at
    a doubled position), so the print cannot decide between the spellings; (2) the read fails its check and
    differs in one character: one slipped character, which the check digit detects but cannot locate (any of
    ~20 positions could be repaired), and the manifest locates it. Another parcel's number is valid and, for
    mod-10 formats, differs from the manifest's in at least two characters, so neither case takes it for the
    manifest's. As for a glued house number, the manifest decides only where the print cannot; a barcode's
    exact read is never changed (the caller passes OCR reads only).
    """
    if tracking is None or expected is None or not expected.tracking:
        return tracking
    want = canonical_tracking(expected.tracking)
    if not want or want == tracking.number or len(want) != len(tracking.number):
        return tracking
    found = match_tracking(want, repair=False)
    if found is None or not found.valid or not found.checked or found.kind != tracking.kind:
        return tracking
    slips = sum(a != b for a, b in zip(tracking.number, want, strict=True))
    invisible = tracking.valid and confusable_equal(tracking.number, want)
    if invisible or (not tracking.valid and slips == 1):
        return replace(tracking, number=found.number, valid=True, repaired=True)
    return tracking


def compare_fields(address: Address | None, expected: Expected) -> dict[str, float]:
    """Similarity in [0, 1] of every address field present on both sides."""
    scores: dict[str, float] = {}
    if address is None:
        return scores
    exp_zip = normalize_zip(expected.zip)
    if exp_zip and address.zip:
        scores["zip"] = 1.0 if exp_zip[:5] == address.zip[:5] else 0.0
    if expected.street and address.street:
        scores["street"] = street_similarity(expected.street, address.street, address.unit)
    if expected.city and address.city:
        scores["city"] = fuzz.ratio(compact(expected.city), compact(address.city)) / 100
    exp_state = normalize_state(expected.state)
    if exp_state and address.state:
        scores["state"] = 1.0 if exp_state == address.state else 0.0
    if expected.name and (address.name or address.company):
        exp_name = normalize_name(expected.name)
        scores["name"] = max(
            max(fuzz.token_sort_ratio(exp_name, got), fuzz.ratio(compact(exp_name), compact(got))) / 100
            for got in (address.name, address.company)
            if got
        )  # word order may differ (`SMITH JOHN`), and OCR may drop the spaces (`JOHNSMITH`)
    return {k: round(v, 4) for k, v in scores.items()}


def verify(
    address: Address | None,
    tracking: TrackingMatch | None,
    expected: Expected | None,
    *,
    readable: bool = True,
    tracking_confidence: float = 1.0,
    label_numbers: Sequence[LabelNumber] = (),
    recipient_differs_mismatch: bool = False,
    hybrid: bool = False,
) -> Verdict:
    """The decision, its kind and reason. `readable=False` (no label text at all) short-cuts to `unreadable`.

    `tracking` is the label's primary number and `tracking_confidence` its evidence confidence (OCR's, or 1.0
    when decoded from a barcode); `label_numbers` every number on the label (with its own confidence), any of
    which may equal the manifest's.
    `hybrid`: a consolidator label, whose SHIP TO block may be the induction post office rather than the consumer.
    Reads below `MIN_EVIDENCE_CONFIDENCE` can confirm the expectation but never contradict it.
    """
    if expected is None or expected.empty:
        return Verdict(None, None, None, {})
    scores = compare_fields(address, expected)
    reasons: list[str] = []
    tracking_evidence = _tracking_evidence(
        tracking, expected, scores, reasons, tracking_confidence, label_numbers
    )
    weight = sum(FIELD_WEIGHTS[k] for k in scores if k in FIELD_WEIGHTS)
    score = (
        round(sum(FIELD_WEIGHTS[k] * scores[k] for k in FIELD_WEIGHTS if k in scores) / weight, 4)
        if weight
        else None
    )
    reasons.extend(_address_reasons(address, expected, scores))
    if score is not None:
        reasons.append(f"address score {score:.2f}")
    agreement = field_agreement(address, expected, scores)
    judgeable = weight >= MIN_COMPARABLE_WEIGHT and score is not None
    contradicting = [k for k in FIELD_WEIGHTS if k in scores and scores[k] < CONTRADICTS_BELOW]
    if address is not None and address.confidence < MIN_EVIDENCE_CONFIDENCE and contradicting:
        agreeing = [k for k in FIELD_WEIGHTS if k in scores and scores[k] >= AGREES_FROM]
        if agreeing or "zip" not in contradicting or len(contradicting) < LOW_CONFIDENCE_MIN_FIELDS:
            reasons.append(
                f"address read with low confidence ({address.confidence:.2f}): not evidence against"
            )
            contradicting = []
    elif address is not None and any(k in scores and scores[k] >= AGREES_FROM for k in FIELD_WEIGHTS):
        # A confidently read block may still hold one blurred row (a name read as `RUSALER`): next to fields
        # that agree, that row, read under the evidence confidence, may confirm but not contradict. Where
        # nothing agrees, every field read differs: another parcel, blurred row or not.
        unsure = [
            k
            for k in contradicting
            if address.field_confidence.get(FIELD_ROW[k], 1.0) < MIN_EVIDENCE_CONFIDENCE
        ]
        if unsure:
            reasons.append(f"{', '.join(unsure)} read with low confidence: not evidence against")
            contradicting = [k for k in contradicting if k not in unsure]

    kind: str | None = None
    if not readable:
        decision = "unreadable"
        reasons.insert(0, "no label text")
    elif tracking_evidence == "same":
        decision, kind = _same_parcel(address, agreement, reasons, hybrid)
        if kind == "recipient_differs" and recipient_differs_mismatch:
            decision = "mismatch"
    elif tracking_evidence == "different":
        decision, kind = "mismatch", "other_parcel"
    elif judgeable and score is not None and score >= MATCH_THRESHOLD:
        decision = "match"
    elif judgeable and len(contradicting) >= MISMATCH_MIN_FIELDS:
        decision = "mismatch"
        kind = "other_parcel" if agreement.get("name") != "agrees" else "address_differs"
    elif judgeable:
        decision = "unreadable"
        reasons.insert(
            0, f"only {contradicting[0] if contradicting else 'weak'} evidence against, the rest agrees"
        )
    else:
        decision = "unreadable"
        reasons.insert(0, "too little of the label read to compare")
    if kind is not None:
        reasons.insert(0, kind.replace("_", " "))
    return Verdict(decision, "; ".join(reasons), score, scores, kind, agreement)


def _same_parcel(
    address: Address | None, agreement: dict[str, str], reasons: list[str], hybrid: bool
) -> tuple[str, str | None]:
    """The right parcel: is it addressed as the manifest says? (decision, mismatch_kind).

    `address_differs` needs a block that is recognisably the manifest's delivery with one confident field
    contradicting it. A block that is not (the name and the delivery fields differ) was read in place of the
    recipient's — another label, a sticker, the post office — and says nothing about the address: the
    recipient is unread, and the equal tracking number decides.
    """
    # Only a block opened by DELIVER TO / SHIP TO / TO is surely the recipient's (on a hybrid label only DELIVER
    # TO); any other could be the sender's, read because OCR lost the recipient's lines.
    sure = address is not None and (
        address.anchor == "final" or (address.anchor == "recipient" and not hybrid)
    )
    need = SURE_BLOCK_MIN_AGREEING if sure else UNSURE_BLOCK_MIN_AGREEING
    differs = [k for k in DELIVERY_FIELDS if agreement.get(k) == "differs"]
    agreeing = [k for k in DELIVERY_FIELDS if agreement.get(k) == "agrees"]
    name_agrees = agreement.get("name") == "agrees"
    support = len(agreeing) + name_agrees
    if differs and support >= need and (name_agrees or len(agreeing) >= len(differs)):
        reasons.append("delivery point differs: " + ", ".join(differs))
        return "mismatch", "address_differs"
    if differs:
        reasons.append("the block read is not recognisably the manifest's delivery (another label, sticker or "
                       "post office): no evidence about the address")  # fmt: skip
        return "match", None
    if agreement.get("name") == "differs" and (sure or len(agreeing) >= need):
        return "match", "recipient_differs"
    return "match", None


def field_agreement(address: Address | None, expected: Expected, scores: dict[str, float]) -> dict[str, str]:
    """Per field: `agrees`, `differs` (a confident contradiction) or `unsure` (read, but not decisive)."""
    out: dict[str, str] = {}
    if "tracking" in scores:
        out["tracking"] = "agrees" if scores["tracking"] >= 1.0 else "differs"
    if address is None:
        return out
    conf = address.field_confidence
    block_conf = address.confidence

    def judge(name: str, sim: float, row: str) -> None:
        confident = min(conf.get(row, block_conf), 1.0) >= DIFFERS_CONFIDENCE
        if sim >= AGREES_FROM:
            out[name] = "agrees"
        elif sim < CONTRADICTS_BELOW and confident:
            out[name] = "differs"
        else:
            out[name] = "unsure"

    exp_hn = _house_number(normalize_street(expected.street))
    got_hn = _house_number(normalize_street(address.street))
    if exp_hn and got_hn:
        judge("house_number", 1.0 if exp_hn == got_hn else 0.0, "street")
        if out["house_number"] == "differs" and _printed_with_a_letter(address, got_hn):
            out["house_number"] = "unsure"  # `6S` for 68: a letter in the number is a misread, not evidence
    if expected.street and address.street:
        exp_name = _street_name(normalize_street(expected.street))
        got_name = _street_name(normalize_street(address.street))
        if exp_name and got_name:
            # The manifest may carry the unit in its street (`79 DIXON RD UNIT 98`), the label on its own line.
            bare = _street_name(normalize_street(split_street_unit(expected.street)[0]))
            sim = max(fuzz.ratio(exp_name, got_name), fuzz.ratio(bare, got_name) if bare else 0.0)
            judge("street", sim / 100, "street")
    for key in ("city", "state", "zip", "name"):
        if key in scores:
            judge(key, scores[key], "name" if key == "name" else "zip" if key == "zip" else "city")
    exp_zip = (normalize_zip(expected.zip) or "")[:5]
    if out.get("zip") == "differs" and exp_zip in address.zip_elsewhere:
        out["zip"] = (
            "unsure"  # the label prints the manifest's ZIP on another row: a misread, not a contradiction
        )
    if (
        out.get("zip") == "differs"
        and not address.zip_exact
        and all(out.get(k) == "agrees" for k in ("house_number", "street", "city"))
        and _one_digit_misread(address.zip, exp_zip)
    ):
        out["zip"] = "unsure"  # 33431 for 33481 under the manifest's street and city: an OCR slip
    return out


DIGIT_CONFUSIONS = frozenset(
    frozenset(p) for p in ("38", "56", "68", "08", "17", "89", "06", "35", "27", "49", "09")
)
"""Digit pairs OCR mistakes for each other in small print (closed loops filled or opened, a stroke lost)."""


def _one_digit_misread(got: str | None, want: str) -> bool:
    """`got`'s first five digits are `want`'s with one digit swapped for a look-alike. Where the street and city
    read agree with the manifest, that is the likelier reading of a single-digit ZIP difference; a corrected
    ZIP moves the parcel to another street or town, which the block would show."""
    got5 = (got or "")[:5]
    diffs = [(a, b) for a, b in zip(got5, want, strict=False) if a != b]
    return len(got5) == len(want) == 5 and len(diffs) == 1 and frozenset(diffs[0]) in DIGIT_CONFUSIONS


def _printed_with_a_letter(address: Address, number: str) -> bool:
    """The block's row printed house number `number` with a letter in it before digit repair (`6S` for 65,
    `O128`): OCR misread it somewhere, so its digits may confirm the manifest's but not contradict them. A glued
    ordinal street (`84407TH`) is not a letter in the number; a read of other digits (`63` for 68) contradicts."""
    for row in address.lines:
        tokens = clean(row).split()
        if tokens and _house_number(normalize_street(row)) == number:
            return any(c.isalpha() for c in tokens[0][: len(number)])
    return False


def _street_name(street: str) -> str:
    """The street without its house number: `123 MAIN ST` → `MAIN ST`."""
    return street.split(" ", 1)[1] if _house_number(street) and " " in street else street


def may_share_a_label(a: str, b: str) -> bool:
    """Numbers of carriers `a` and `b` can both be printed on one parcel's label: a consolidator's number next
    to the last-mile USPS IMpb. The consolidator's may be of a format no table lists (carrier empty: DHL
    eCommerce, OSM, marketplace consolidators). Two numbers of one carrier, or of two carriers neither of which
    is USPS, cannot."""
    return a != b and LAST_MILE_CARRIER in (a, b)


def _tracking_evidence(
    tracking: TrackingMatch | None,
    expected: Expected,
    scores: dict[str, float],
    reasons: list[str],
    confidence: float = 1.0,
    label_numbers: Sequence[LabelNumber] = (),
) -> str:
    """'same', 'different' or '' (no usable evidence); records the tracking field score and reason.

    'different' needs a confident read that is either confirmed by its check digit as read and not within an
    OCR slip of the expected number, or, unconfirmed, clearly unlike it (`TRACKING_DIFFERENT_BELOW`). Only a
    number that could not sit on the same label as the manifest's is compared: where the manifest holds a UPS
    number and the label shows a USPS IMpb (or the reverse), the label's number of the manifest's carrier is
    compared instead, and without one the number says nothing either way (`may_share_a_label`).
    """
    want = canonical_tracking(expected.tracking)
    if not want:
        return ""
    if tracking is None:
        reasons.append("tracking not read")
        return ""
    others = [n.match for n in label_numbers if n.match.number != tracking.number]
    if any(m.number == want or confusable_equal(m.number, want) for m in others):
        scores["tracking"] = 1.0
        reasons.append("tracking equal (another number on the label)")
        return "same"
    got = tracking.number
    if got == want:
        scores["tracking"] = 1.0
        reasons.append("tracking equal" + (" (repaired)" if tracking.repaired else ""))
        return "same"
    if confusable_equal(got, want):
        scores["tracking"] = 1.0
        reasons.append(f"tracking equal up to OCR confusions ({got})")
        return "same"
    want_match = match_tracking(want)
    want_carrier = want_match.carrier if want_match is not None else ""
    if may_share_a_label(tracking.carrier, want_carrier):
        alike = [n for n in label_numbers if n.match.carrier == want_carrier]
        if not alike:
            reasons.append(
                f"tracking {got} ({tracking.carrier}) and the manifest's {want_carrier} number can share a "
                "consolidator label: no evidence either way"
            )
            return ""
        tracking, confidence, got = alike[0].match, alike[0].confidence, alike[0].match.number
    near = fuzz.ratio(got, want) / 100
    scores["tracking"] = round(near, 4)
    confirmed = tracking.valid and tracking.checked and not tracking.repaired
    if confidence < MIN_EVIDENCE_CONFIDENCE:
        reasons.append(f"tracking {got}≠{want} read with low confidence ({confidence:.2f})")
    elif near >= TRACKING_NEAR_RATIO:
        reasons.append(f"tracking {got} near expected ({near:.2f}): an OCR slip of it")
    elif confirmed or (tracking.valid and near < TRACKING_DIFFERENT_BELOW):
        reasons.append(f"tracking {got}≠{want}")
        return "different"
    else:
        why = "check fails" if not tracking.valid else "repaired" if tracking.checked else "no check digit"
        reasons.append(f"tracking {got}≠{want} unconfirmed ({why})")
    return ""


def _address_reasons(address: Address | None, expected: Expected, scores: dict[str, float]) -> list[str]:
    if address is None:
        return ["recipient address not found"] if any((expected.zip, expected.street, expected.city)) else []
    out: list[str] = []
    if "zip" in scores:
        exp_zip = (normalize_zip(expected.zip) or "")[:5]
        got_zip = (address.zip or "")[:5]
        out.append(f"zip {got_zip}{'=' if scores['zip'] == 1.0 else '≠'}{exp_zip}")
    for key in ("street", "city", "state", "name"):
        if key in scores:
            out.append(f"{key} similarity {scores[key]:.2f}")
    return out
