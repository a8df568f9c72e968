"""Hand-made OCR pages laid out like labels: tracking across pieces, sender vs recipient, verification."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podocr.extract import Expected, extract_fields
from podocr.types import PageResult, TextLine

Item = tuple[str, float, float, float]  # text, x, y, text height — in the label's own frame


def make_page(
    items: Sequence[Item], *, angle: float = 0.0, shuffle: bool = False, conf: float = 0.95
) -> PageResult:
    """Lines as OCR would return them for a label photographed rotated by `angle` degrees (clockwise)."""
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)

    def rot(x: float, y: float) -> tuple[float, float]:
        return (2000 + x * cos - y * sin, 2000 + x * sin + y * cos)

    lines = []
    for text, x, y, h in items:
        w = 0.6 * h * len(text)
        corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]  # clockwise from the text's top-left
        lines.append(TextLine(text, conf, [rot(px, py) for px, py in corners]))
    if shuffle:
        random.Random(7).shuffle(lines)
    return PageResult(lines, 4000, 4000)


# A USPS-style label: small sender top-left, service banner, larger SHIP TO block, split tracking number.
USPS_LABEL: list[Item] = [
    ("JANE SENDER", 20, 20, 14),
    ("ACME SUPPLY CO", 20, 38, 14),
    ("450 W 33RD ST", 20, 56, 14),
    ("NEW YORK NY 10001", 20, 74, 14),
    ("PRIORITY MAIL", 320, 20, 30),
    ("SHIP TO:", 20, 140, 16),
    ("JOHN SMITH", 40, 162, 24),
    ("123 MAIN STREET APT 4B", 40, 190, 24),
    ("BROOKLYN NY 11272-1234", 40, 218, 24),
    ("USPS TRACKING # EP", 120, 300, 16),
    ("6406 2607 87", 262, 322, 18),  # pieces of one printed line, listed out of order
    ("9400 1112 0620", 80, 322, 18),
    ("REF: 986578788855", 20, 380, 12),
    ("TEL (718) 555-0142", 20, 400, 12),
]

OTHER_IMPB = "9261290100130435082770"  # another parcel's USPS IMpb

EXPECTED = Expected(name="John Smith", street="123 Main St Apt 4B", city="Brooklyn", state="NY", zip="11272",
                    tracking="9400 1112 0620 6406 2607 87")  # fmt: skip


@pytest.mark.parametrize("angle", [0, 90, 180, 270, 7])
@pytest.mark.parametrize("shuffle", [False, True])
def test_usps_label_any_rotation_and_line_order(angle: float, shuffle: bool) -> None:
    e = extract_fields(make_page(USPS_LABEL, angle=angle, shuffle=shuffle), EXPECTED)
    assert (e.tracking_number, e.carrier, e.tracking_valid, e.tracking_repaired) == (
        "9400111206206406260787", "usps", True, False)  # fmt: skip
    assert (e.recipient_name, e.recipient_company, e.street, e.unit) == (
        "JOHN SMITH",
        None,
        "123 MAIN ST",
        "APT 4B",
    )
    assert (e.city, e.state, e.zip) == ("BROOKLYN", "NY", "11272-1234")
    assert e.verification == "match"
    assert e.address_match_score == 1.0
    assert e.field_scores["tracking"] == 1.0


def test_ups_number_in_spaced_groups_split_into_pieces() -> None:
    items: list[Item] = [
        ("SHIP TO:", 20, 100, 16),
        ("MARY O'NEIL", 110, 100, 22),
        ("77 LAKE SHORE DR", 110, 126, 22),
        ("CHICAGO IL 60611", 110, 152, 22),
        ("TRACKING #: 1Z 5R8 939", 20, 250, 18),
        ("03 5756 7127", 270, 250, 18),
    ]
    e = extract_fields(make_page(items))
    assert (e.tracking_number, e.carrier, e.tracking_valid) == ("1Z5R89390357567127", "ups", True)
    assert (e.recipient_name, e.street, e.city, e.zip) == (
        "MARY O NEIL",
        "77 LAKE SHORE DR",
        "CHICAGO",
        "60611",
    )
    assert e.verification is None and e.verification_reason is None


def test_confused_tracking_digits_are_repaired_on_a_page() -> None:
    items: list[Item] = [("USPS TRACKING #", 20, 20, 16), ("94OO 1112 0620 6406 2607 87", 20, 40, 18)]
    e = extract_fields(make_page(items))
    assert (e.tracking_number, e.tracking_valid, e.tracking_repaired) == (
        "9400111206206406260787",
        True,
        True,
    )


def test_reference_phone_and_zip4_numbers_are_not_tracking_numbers() -> None:
    items: list[Item] = [
        ("DHL EXPRESS", 20, 0, 20),
        ("REF: 986578788855", 20, 30, 14),  # a valid FedEx 12 check digit, but labelled as a reference
        ("PO 9865 7878 8855", 20, 50, 14),
        ("TEL 3318810025", 20, 70, 14),  # passes the DHL mod 7 check, but it is a phone number
        ("BROOKLYN NY 11272-1234", 20, 90, 14),
        ("INVOICE 0414 4176 0228 964", 20, 110, 14),
        ("1234 5678 9865 7878 8855", 20, 130, 14),  # a slice of a longer digit run
    ]
    e = extract_fields(make_page(items))
    assert e.tracking_number is None and e.carrier is None and not e.tracking_valid


def test_a_valid_slice_of_a_misread_longer_number_is_not_taken() -> None:
    # 9400 1097 4234 is a valid FedEx 12 by chance; the whole line is a USPS number with an OCR G for 6.
    items: list[Item] = [
        ("USP5 TRACKING # EP", 20, 0, 16),
        ("9400 1097 4234 8G85", 20, 30, 18),
        ("9615 81", 240, 30, 18),
    ]
    e = extract_fields(make_page(items))
    assert (e.tracking_number, e.carrier, e.tracking_repaired) == ("9400109742348685961581", "usps", True)


def test_bare_valid_numbers_are_found_with_context() -> None:
    fedex = extract_fields(make_page([("TRK# 9865 7878 8855", 20, 20, 18)]))
    assert (fedex.tracking_number, fedex.carrier, fedex.tracking_valid) == ("986578788855", "fedex", True)
    dhl = extract_fields(make_page([("DHL EXPRESS", 20, 0, 20), ("WAYBILL 33 1881 0025", 20, 30, 16)]))
    assert (dhl.tracking_number, dhl.carrier) == ("3318810025", "dhl")
    no_dhl = extract_fields(make_page([("33 1881 0025", 20, 30, 16)]))
    assert no_dhl.tracking_number is None  # ten bare digits without DHL on the page could be anything


def test_valid_number_outranks_an_unvalidated_one_and_bigger_print_breaks_ties() -> None:
    items: list[Item] = [
        ("9400 1112 0620 6406 2607 88", 20, 20, 30),  # IMpb shape, wrong check digit, big print
        ("1Z 5R8 939 03 5756 7127", 20, 80, 14),
    ]
    e = extract_fields(make_page(items))
    assert (e.tracking_number, e.tracking_valid) == ("1Z5R89390357567127", True)
    only_bad = extract_fields(make_page(items[:1]))
    assert (only_bad.tracking_number, only_bad.carrier, only_bad.tracking_valid) == (
        "9400111206206406260788", "usps", False)  # fmt: skip


SENDER = [("ACME SUPPLY CO", 20, 20, 14), ("450 W 33RD ST", 20, 38, 14), ("NEW YORK NY 10001", 20, 56, 14)]
RECIPIENT = [("JOHN SMITH", 40, 140, 24), ("123 MAIN ST", 40, 168, 24), ("BROOKLYN NY 11272", 40, 196, 24)]


def test_larger_lower_block_is_the_recipient_without_anchor_words() -> None:
    e = extract_fields(make_page(SENDER + RECIPIENT))
    assert (e.recipient_name, e.street, e.zip) == ("JOHN SMITH", "123 MAIN ST", "11272")


def test_anchor_words_beat_type_size() -> None:
    # Same size everywhere, recipient on top: only the FROM / SHIP TO words can tell them apart.
    items: list[Item] = [
        ("SHIP TO: JOHN SMITH", 20, 20, 18),
        ("123 MAIN ST", 20, 42, 18),
        ("BROOKLYN NY 11272", 20, 64, 18),
        ("FROM:", 20, 140, 18),
        ("ACME SUPPLY CO", 20, 162, 18),
        ("450 W 33RD ST", 20, 184, 18),
        ("NEW YORK NY 10001", 20, 206, 18),
    ]
    e = extract_fields(make_page(items))
    assert (e.recipient_name, e.street, e.city, e.zip) == ("JOHN SMITH", "123 MAIN ST", "BROOKLYN", "11272")


def test_side_by_side_blocks_with_anchor_column() -> None:
    items: list[Item] = [
        ("FROM", 20, 20, 14), ("ACME SUPPLY CO", 80, 20, 14), ("450 W 33RD ST", 80, 38, 14),
        ("NEW YORK NY 10001", 80, 56, 14),
        ("SHIP", 400, 20, 14), ("TO:", 400, 38, 14),
        ("JOHN SMITH", 470, 20, 20), ("GLOBEX CORP", 470, 44, 20), ("123 MAIN ST", 470, 68, 20),
        ("STE 400", 470, 92, 20), ("BROOKLYN NY 11272", 470, 116, 20),
    ]  # fmt: skip
    e = extract_fields(make_page(items))
    assert (e.recipient_name, e.recipient_company, e.street, e.unit) == (
        "JOHN SMITH",
        "GLOBEX CORP",
        "123 MAIN ST",
        "STE 400",
    )
    assert (e.city, e.state, e.zip) == ("BROOKLYN", "NY", "11272")


def test_sender_block_is_never_the_recipient() -> None:
    # The recipient's CITY line is unreadable: use the rows under SHIP TO (misread `5HIP T0`), not the sender.
    items: list[Item] = [
        ("FROM:", 20, 0, 14), ("ACME SUPPLY CO", 20, 18, 14), ("450 W 33RD ST", 20, 36, 14),
        ("NEW YORK NY 10001", 20, 54, 14),
        ("5HIP T0:", 20, 100, 16), ("JOHN SMITH", 40, 120, 24), ("123 MAIN ST", 40, 148, 24),
        ("BR%%KLYN ~~ 1127", 40, 176, 24),
    ]  # fmt: skip
    e = extract_fields(make_page(items), EXPECTED)
    assert (e.recipient_name, e.street, e.zip) == ("JOHN SMITH", "123 MAIN ST", None)
    assert e.verification == "match"  # street + name weigh enough; nothing contradicts
    only_sender = extract_fields(make_page(items[:4]), EXPECTED)
    assert only_sender.zip is None and only_sender.verification == "unreadable"


def test_tracking_equal_up_to_invisible_confusions_is_a_match() -> None:
    items: list[Item] = [("TRACKING #: 1Z 9RC S5X 01 9111 1856", 20, 20, 18)]
    # Both spellings pass the UPS check: read alone the number stays as read; against the manifest it is
    # the manifest's spelling (the print cannot decide), and the same parcel.
    assert extract_fields(make_page(items)).tracking_number == "1Z9RCS5X0191111856"
    e = extract_fields(make_page(items), Expected(tracking="1Z9RC55X0191111856"))
    assert e.tracking_number == "1Z9RC55X0191111856" and e.tracking_valid and e.tracking_repaired
    assert e.verification == "match" and e.verification_reason is not None
    assert "tracking equal" in e.verification_reason


def test_ocr_dropped_spaces_and_confusions_still_match() -> None:
    items: list[Item] = [
        ("SHIPTO:", 20, 20, 16),
        ("JOHNSMITH", 40, 40, 24),
        ("l23 MAINSTREET APT4B", 40, 68, 24),
        ("BROOKLYNNY1I272", 40, 96, 24),
    ]
    e = extract_fields(make_page(items), EXPECTED)
    assert (e.city, e.state, e.zip) == ("BROOKLYN", "NY", "11272")
    assert e.verification == "match", e.verification_reason
    assert e.field_scores["zip"] == 1.0


def test_different_address_is_a_mismatch_with_a_reason() -> None:
    items: list[Item] = [("SHIP TO:", 20, 20, 16), ("PAT JONES", 40, 40, 24), ("88 OAK AVE", 40, 68, 24),
                         ("NEW YORK NY 10001", 40, 96, 24)]  # fmt: skip
    e = extract_fields(make_page(items), EXPECTED)
    assert e.verification == "mismatch"
    assert e.address_match_score is not None and e.address_match_score < 0.5
    assert e.verification_reason is not None and "zip 10001≠11272" in e.verification_reason
    assert (
        "street similarity 0.30" in e.verification_reason or "street similarity 0.2" in e.verification_reason
    )


def test_same_street_other_house_number_is_a_mismatch() -> None:
    page = make_page([("SHIP TO:", 20, 20, 16), ("JOHN SMITH", 40, 40, 24), ("125 MAIN ST APT 4B", 40, 68, 24),
                      ("BROOKLYN NY 11272", 40, 96, 24)])  # fmt: skip
    e = extract_fields(
        page, Expected(name="John Smith", street="123 Main St Apt 4B", city="Brooklyn", zip="11272")
    )
    assert e.field_scores["street"] <= 0.3
    # Street alone (weight 0.30) is not enough to cross the line with everything else equal…
    assert e.verification == "match"
    # …but with the name differing too it is.
    e2 = extract_fields(page, Expected(name="Pat Jones", street="123 Main St", city="Brooklyn", zip="11272"))
    assert e2.verification == "mismatch"


def test_different_valid_tracking_number_is_a_mismatch_even_at_the_same_address() -> None:
    want = Expected(name="John Smith", street="123 Main St", city="Brooklyn", state="NY", zip="11272",
                    tracking=OTHER_IMPB)  # fmt: skip
    e = extract_fields(make_page(USPS_LABEL), want)
    assert e.verification == "mismatch"
    assert (
        e.verification_reason is not None
        and f"tracking 9400111206206406260787≠{OTHER_IMPB}" in e.verification_reason
    )
    # A UPS number on the manifest: a consolidator label (UPS SurePost) carries a USPS IMpb as well, so the
    # USPS number read is no evidence of another parcel, and the address (which agrees) decides.
    e = extract_fields(make_page(USPS_LABEL), dataclasses.replace(want, tracking="1Z5R89390357567127"))
    assert e.verification == "match" and "consolidator" in (e.verification_reason or "")


def test_equal_tracking_is_a_match_unless_the_address_recognisably_differs() -> None:
    only_tracking = Expected(tracking="9400111206206406260787")
    assert extract_fields(make_page(USPS_LABEL), only_tracking).verification == "match"
    # Every delivery field differs and no name to recognise the block by: another block, no evidence.
    elsewhere = Expected(
        street="9 Elm Ln", city="Springfield", state="IL", zip="62701", tracking="9400111206206406260787"
    )
    e = extract_fields(make_page(USPS_LABEL), elsewhere)
    assert (e.verification, e.mismatch_kind) == ("match", None)
    assert e.address_match_score is not None and e.address_match_score < 0.45
    # The same with the name agreeing: the parcel's recipient, wholly re-addressed.
    moved = extract_fields(make_page(USPS_LABEL), dataclasses.replace(elsewhere, name="John Smith"))
    assert (moved.verification, moved.mismatch_kind) == ("mismatch", "address_differs")


def test_equal_tracking_is_not_overruled_by_a_block_that_may_be_the_senders() -> None:
    # OCR lost the SHIP TO block; only the (unlabelled) sender block and the tracking number were read.
    items: list[Item] = [
        *SENDER,
        ("USPS TRACKING #", 20, 200, 16),
        ("9400 1112 0620 6406 2607 87", 20, 220, 18),
    ]
    e = extract_fields(make_page(items), EXPECTED)
    assert e.zip == "10001" and e.address_match_score is not None and e.address_match_score < 0.45
    assert e.verification == "match"


def test_one_contradicting_field_among_agreeing_ones_is_not_a_mismatch() -> None:
    # Only the CITY row was read and its ZIP has two wrong digits: city and state agree → not a false alarm.
    e = extract_fields(make_page([("BROOKLYN NY 61262", 40, 20, 24)]), EXPECTED)
    assert e.field_scores == {"zip": 0.0, "city": 1.0, "state": 1.0}
    assert e.verification == "unreadable"
    assert e.verification_reason is not None and e.verification_reason.startswith("only zip evidence against")
    # A name written without spaces is still the same name.
    e2 = extract_fields(
        make_page([("SHIP TO:", 20, 0, 16), ("JOHNSMITH", 40, 20, 24)]), Expected(name="John Smith")
    )
    assert e2.field_scores["name"] == 1.0


def test_blurred_reads_confirm_but_never_contradict() -> None:
    # The same "other parcel" page read with low OCR confidence (blurred print): not evidence against.
    other: list[Item] = [("SHIP TO:", 20, 20, 16), ("PAT JONES", 40, 40, 24), ("88 OAK AVE", 40, 68, 24)]
    assert extract_fields(make_page(other, conf=0.95), EXPECTED).verification == "mismatch"
    e = extract_fields(make_page(other, conf=0.7), EXPECTED)
    assert e.verification == "unreadable"
    assert e.verification_reason is not None and "low confidence (0.70)" in e.verification_reason
    # …unless the ZIP and two more fields all differ and none agrees: noise does not forge a whole address.
    whole = [*other, ("NEWARK NJ 07102", 40, 96, 24)]
    assert extract_fields(make_page(whole, conf=0.7), EXPECTED).verification == "mismatch"
    # A low-confidence read that agrees still confirms.
    assert extract_fields(make_page(USPS_LABEL, conf=0.7), EXPECTED).verification == "match"
    # A valid but low-confidence tracking number of another parcel is no evidence either.
    number_only = [("USPS TRACKING #", 20, 200, 16), ("9400 1112 0620 6406 2607 87", 20, 220, 18)]
    want = Expected(tracking=OTHER_IMPB)
    assert extract_fields(make_page(number_only, conf=0.95), want).verification == "mismatch"
    assert extract_fields(make_page(number_only, conf=0.7), want).verification == "unreadable"


def test_tracking_read_within_an_ocr_slip_or_unconfirmed_is_not_another_parcel() -> None:
    address = [("SHIP TO:", 20, 20, 16), ("JOHN SMITH", 40, 40, 24), ("123 MAIN ST APT 4B", 40, 68, 24),
               ("BROOKLYN NY 11272", 40, 96, 24)]  # fmt: skip
    # Amazon numbers have no check digit: one misread digit is a slip of the expected number, not another one.
    slip = extract_fields(
        make_page([*address, ("TBA135821309754", 40, 140, 20)]),
        Expected(street="123 Main St Apt 4B", zip="11272", city="Brooklyn", tracking="TBA135021309754"),
    )
    assert slip.tracking_number == "TBA135821309754" and slip.verification == "match", (
        slip.verification_reason
    )
    # An unconfirmed number clearly unlike the expected one is still another parcel's.
    other = extract_fields(
        make_page([*address, ("TBA902817364455", 40, 140, 20)]),
        Expected(street="123 Main St Apt 4B", zip="11272", city="Brooklyn", tracking="TBA135021309754"),
    )
    assert other.verification == "mismatch", other.verification_reason


def test_unreadable_when_nothing_comparable_was_read() -> None:
    empty = extract_fields(PageResult([], 100, 100), EXPECTED)
    assert empty.verification == "unreadable" and empty.verification_reason
    fragile = extract_fields(make_page([("FRAGILE", 20, 20, 40), ("THIS SIDE UP", 20, 80, 20)]), EXPECTED)
    assert fragile.verification == "unreadable"
    assert fragile.tracking_number is None and fragile.zip is None
    only_name = extract_fields(
        make_page([("SHIP TO: JOHN SMITH", 20, 20, 20)]), Expected(name="John Smith", zip="11272")
    )
    assert only_name.recipient_name == "JOHN SMITH" and only_name.verification == "unreadable"


def test_no_expectation_means_no_verdict() -> None:
    for expected in (None, Expected(), Expected.from_row({"expected_zip": float("nan")})):
        e = extract_fields(make_page(USPS_LABEL), expected)
        assert e.verification is None and e.address_match_score is None and e.field_scores == {}
        assert e.tracking_number == "9400111206206406260787"


_weird_text = st.one_of(st.text(max_size=60), st.text(alphabet="0123456789 OISZB-#:,", max_size=60),
                        st.just("x" * 5000), st.just(""))  # fmt: skip
_coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e4, 1e4))
_quad: st.SearchStrategy[list[tuple[float, float]]] = st.one_of(
    st.lists(st.tuples(_coord, _coord), min_size=0, max_size=6), st.just([])
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_weird_text, st.floats(allow_nan=True), _quad), max_size=25))
def test_never_raises_on_weird_input(raw: list[tuple[str, float, list[tuple[float, float]]]]) -> None:
    page = PageResult([TextLine(t, c, q) for t, c, q in raw], 100, 100)
    e = extract_fields(page, EXPECTED)
    assert e.verification in ("match", "mismatch", "unreadable")
    assert not (e.verification_reason or "").startswith("extraction error"), e.verification_reason


def test_fast_on_a_typical_label_and_bounded_on_junk() -> None:
    """A guard against pathological parsing (a regex that backtracks for ever on junk), not a benchmark: CPU
    time of this process, so other load on a shared CI box does not count, with bounds ~20× the idle cost."""
    page = make_page(USPS_LABEL)
    extract_fields(page, EXPECTED)
    t0 = time.process_time()
    for _ in range(50):
        extract_fields(page, EXPECTED)
    per_page = (time.process_time() - t0) / 50
    assert per_page < 0.02  # ~1 ms on an idle core; generous for a shared CI machine
    junk = make_page([("9" * 150 + " 1Z 0O0 " * 6, 0, i * 30, 20) for i in range(400)])
    t0 = time.process_time()
    extract_fields(junk, EXPECTED)
    assert time.process_time() - t0 < 2.0
