"""Fusion of barcode and OCR numbers, each mismatch_kind, and hybrid (SurePost-style) labels on hand-made reads."""

from __future__ import annotations

import dataclasses

from test_extract_pages import EXPECTED, USPS_LABEL, Item, make_page

from podocr.barcode.payload import parse_payload
from podocr.extract import Expected, extract_fields
from podocr.extract.tracking import mod10_31_check_digit, ups_check_digit
from podocr.extract.verify import may_share_a_label

NUMBER = "9400111206206406260787"  # printed on USPS_LABEL
OTHER_USPS = "92612901001304350827" + "7" + str(mod10_31_check_digit("926129010013043508277"))  # another IMpb


def barcode(payload: str) -> list:
    return [parse_payload("Code128", payload)]


def test_fusion_agree_is_both() -> None:
    e = extract_fields(make_page(USPS_LABEL), EXPECTED, barcode("42011272" + NUMBER))
    assert (e.tracking_number, e.tracking_source, e.barcode_zip) == (NUMBER, "both", "11272")
    assert e.verification == "match" and e.mismatch_kind is None


def test_fusion_disagree_barcode_wins_when_it_validates() -> None:
    e = extract_fields(make_page(USPS_LABEL), None, barcode(OTHER_USPS))
    assert (e.tracking_number, e.tracking_source) == (OTHER_USPS, "barcode")
    assert {n["number"] for n in e.tracking_numbers} >= {OTHER_USPS, NUMBER}


def test_fusion_invalid_unknown_barcode_does_not_overrule_a_valid_ocr_read() -> None:
    e = extract_fields(make_page(USPS_LABEL), None, barcode("SPXLAX123456789012"))
    assert (e.tracking_number, e.tracking_source) == (NUMBER, "ocr")
    assert {"number": "SPXLAX123456789012", "carrier": "", "source": "barcode"} in e.tracking_numbers


def test_fusion_ocr_fills_in_and_barcode_alone_fills_in() -> None:
    assert extract_fields(make_page(USPS_LABEL), None).tracking_source == "ocr"
    no_number = [it for it in USPS_LABEL if not it[0][:1].isdigit() or "MAIN" in it[0]]
    e = extract_fields(make_page(no_number), EXPECTED, barcode(NUMBER))
    assert (e.tracking_number, e.tracking_source, e.verification) == (NUMBER, "barcode", "match")


def test_other_parcel() -> None:
    e = extract_fields(make_page(USPS_LABEL), Expected(**{**vars_of(EXPECTED), "tracking": OTHER_USPS}))
    assert (e.verification, e.mismatch_kind) == ("mismatch", "other_parcel")
    assert e.field_agreement["tracking"] == "differs"


def vars_of(exp: Expected) -> dict:
    return {k: getattr(exp, k) for k in ("name", "street", "city", "state", "zip", "tracking")}


def test_address_differs_on_each_delivery_field() -> None:
    for change, field in (
        ({"street": "125 Main St Apt 4B"}, "house_number"),
        ({"street": "123 Oak Ave Apt 4B"}, "street"),
        ({"city": "Albany"}, "city"),
        ({"zip": "11201"}, "zip"),
    ):
        e = extract_fields(make_page(USPS_LABEL), Expected(**{**vars_of(EXPECTED), **change}))
        assert (e.verification, e.mismatch_kind) == ("mismatch", "address_differs"), change
        assert e.field_agreement[field] == "differs", change


def test_low_confidence_read_is_no_evidence_of_a_different_address() -> None:
    e = extract_fields(make_page(USPS_LABEL, conf=0.8), Expected(**{**vars_of(EXPECTED), "zip": "11201"}))
    assert (e.verification, e.mismatch_kind) == ("match", None)
    assert e.field_agreement["zip"] == "unsure"


def test_barcode_zip_backs_the_ocr_zip() -> None:
    # OCR misread the ZIP; the barcode's routing ZIP (exact) is the manifest's: no false alarm.
    misread = [(t.replace("11272", "11242"), x, y, h) for t, x, y, h in USPS_LABEL]
    assert extract_fields(make_page(misread), EXPECTED).mismatch_kind == "address_differs"
    e = extract_fields(make_page(misread), EXPECTED, barcode("42011272" + NUMBER))
    assert (e.zip, e.verification, e.mismatch_kind) == ("11272", "match", None)


def test_recipient_differs_is_reported_not_a_mismatch_unless_configured() -> None:
    exp = Expected(**{**vars_of(EXPECTED), "name": "Maria Gonzalez"})
    e = extract_fields(make_page(USPS_LABEL), exp)
    assert (e.verification, e.mismatch_kind) == ("match", "recipient_differs")
    strict = extract_fields(make_page(USPS_LABEL), exp, recipient_differs_mismatch=True)
    assert (strict.verification, strict.mismatch_kind) == ("mismatch", "recipient_differs")


SUREPOST = "1Z879E930346834440"
SUREPOST_LABEL: list[Item] = [
    ("ACME SUPPLY CO", 20, 20, 12),
    ("450 W 33RD ST", 20, 36, 12),
    ("NEW YORK NY 10001", 20, 52, 12),
    ("SHIP TO:", 20, 90, 14),
    ("POSTMASTER", 40, 108, 16),
    ("US POST OFFICE", 40, 128, 16),
    ("1600 ATLANTIC AVE", 40, 148, 16),
    ("BROOKLYN NY 11201", 40, 168, 16),
    ("USPS DELIVER TO:", 20, 200, 14),
    ("JOHN SMITH", 40, 220, 22),
    ("123 MAIN ST APT 4B", 40, 246, 22),
    ("BROOKLYN NY 11272", 40, 272, 22),
    ("UPS SUREPOST", 20, 320, 28),
    ("TRACKING #: 1Z 879 E93 03 4683 4440", 20, 360, 14),
    ("USPS TRACKING #", 120, 440, 14),
    ("9400 1112 0620 6406 2607 87", 80, 520, 16),
]


def test_surepost_layout_deliver_to_is_the_recipient_and_both_numbers_are_kept() -> None:
    for manifest_number in (SUREPOST, NUMBER):
        exp = Expected(**{**vars_of(EXPECTED), "tracking": manifest_number})
        e = extract_fields(make_page(SUREPOST_LABEL), exp)
        assert (e.street, e.zip) == ("123 MAIN ST", "11272")
        assert {n["number"] for n in e.tracking_numbers} >= {SUREPOST, NUMBER}
        assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason


def test_surepost_layout_with_barcodes_and_a_wrong_address() -> None:
    exp = Expected(**{**vars_of(EXPECTED), "tracking": NUMBER, "street": "127 Main St Apt 4B"})
    e = extract_fields(make_page(SUREPOST_LABEL), exp, barcode(SUREPOST) + barcode("42011272" + NUMBER))
    assert e.tracking_source == "both" and e.barcode_zip == "11272"
    assert (e.verification, e.mismatch_kind) == ("mismatch", "address_differs")


def without(items: list[Item], *texts: str) -> list[Item]:
    return [it for it in items if it[0] not in texts]


def test_post_office_block_is_never_the_recipient_when_deliver_to_is_lost() -> None:
    # OCR lost the `USPS DELIVER TO:` line: the SHIP TO block names the post office, the consumer's block has
    # no keyword left. The post office must not be taken for the consumer (or contradict the manifest).
    page = make_page(without(SUREPOST_LABEL, "USPS DELIVER TO:"))
    for manifest_number in (SUREPOST, NUMBER):
        e = extract_fields(page, Expected(**{**vars_of(EXPECTED), "tracking": manifest_number}))
        assert (e.recipient_name, e.street, e.zip) == ("JOHN SMITH", "123 MAIN ST", "11272")
        assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason


def test_post_office_block_alone_is_an_unread_recipient_not_a_contradiction() -> None:
    # Only the post office's block was read (the consumer's lines lost): the recipient is unread.
    lost = ("USPS DELIVER TO:", "JOHN SMITH", "123 MAIN ST APT 4B", "BROOKLYN NY 11272")
    e = extract_fields(
        make_page(without(SUREPOST_LABEL, *lost)), Expected(**{**vars_of(EXPECTED), "tracking": NUMBER})
    )
    assert e.street != "1600 ATLANTIC AVE" and e.recipient_name != "POSTMASTER"
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason
    # `SHIP TO: POSTMASTER` on one line is the post office all the same.
    one_line = [("SHIP TO: POSTMASTER", 20, 100, 16), *SUREPOST_LABEL[5:8], *SUREPOST_LABEL[12:]]
    e = extract_fields(make_page(one_line), Expected(**{**vars_of(EXPECTED), "tracking": NUMBER}))
    assert e.street != "1600 ATLANTIC AVE" and (e.verification, e.mismatch_kind) == ("match", None)


def test_ship_to_on_a_hybrid_label_is_not_surely_the_consumer() -> None:
    # Both post-office name lines and DELIVER TO lost: SHIP TO now opens the post office's street and city.
    # Two carriers' numbers mark the label as hybrid, so SHIP TO neither wins the block choice by its keyword
    # nor lets one of its fields contradict the manifest.
    lost = ("POSTMASTER", "US POST OFFICE", "USPS DELIVER TO:", "UPS SUREPOST")
    e = extract_fields(
        make_page(without(SUREPOST_LABEL, *lost)), Expected(**{**vars_of(EXPECTED), "tracking": NUMBER})
    )
    assert (e.street, e.zip) == ("123 MAIN ST", "11272")
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason
    # The consumer's block too is lost: the post office's block, unrecognisable, is no evidence.
    gone = (*lost, "JOHN SMITH", "123 MAIN ST APT 4B", "BROOKLYN NY 11272")
    e = extract_fields(
        make_page(without(SUREPOST_LABEL, *gone)), Expected(**{**vars_of(EXPECTED), "tracking": NUMBER})
    )
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason


def test_a_block_differing_in_name_and_every_delivery_field_is_another_block() -> None:
    other = Expected(name="Maria Gonzalez", street="9 Elm Ln", city="Springfield", state="IL", zip="62701",
                     tracking=NUMBER)  # fmt: skip
    e = extract_fields(make_page(USPS_LABEL), other)
    assert (e.verification, e.mismatch_kind) == ("match", None)
    assert e.verification_reason is not None and "not recognisably" in e.verification_reason
    # Recognisable (name and most fields agree) with one confident field contradicting: address_differs.
    e = extract_fields(make_page(USPS_LABEL), Expected(**{**vars_of(EXPECTED), "city": "Springfield"}))
    assert (e.verification, e.mismatch_kind) == ("mismatch", "address_differs")
    # Still no alarm from a low-confidence read of that contradiction.
    e = extract_fields(
        make_page(USPS_LABEL, conf=0.87), Expected(**{**vars_of(EXPECTED), "city": "Springfield"})
    )
    assert e.verification == "match"


GLUED: list[Item] = [
    ("SHIP TO:", 20, 140, 16),
    ("JOHN SMITH", 40, 162, 24),
    ("84407TH AVE", 40, 190, 24),  # `8440 7TH AVE` with the space lost
    ("BROOKLYN NY 11272", 40, 218, 24),
    ("USPS TRACKING # EP", 120, 300, 16),
    ("9400 1112 0620 6406 2607 87", 80, 322, 18),
]


def test_house_number_glued_to_an_ordinal_street_is_split() -> None:
    e = extract_fields(make_page(GLUED), None)
    assert (
        e.street == "8440 7TH AVE"
    )  # the only split whose ordinal fits its digit that leaves a short street
    for street in ("8440 7th Avenue", "84 407th Ave"):  # the manifest decides among well-formed splits
        e = extract_fields(make_page(GLUED), Expected(**{**vars_of(EXPECTED), "street": street}))
        assert (e.verification, e.mismatch_kind) == ("match", None), street
        assert e.field_agreement["house_number"] == "agrees"
    e = extract_fields(make_page(GLUED), Expected(**{**vars_of(EXPECTED), "street": "8446 7th Ave"}))
    assert (e.verification, e.mismatch_kind) == ("mismatch", "address_differs")
    assert e.field_agreement["house_number"] == "differs"


FEDEX_LABEL: list[Item] = [
    ("ORIGIN ID:HLXE (292) 220-8182", 20, 20, 12),
    ("TO", 20, 80, 14),
    ("JOHN SMITH", 40, 100, 22),
    ("123 MAIN ST APT 4B", 40, 126, 22),
    ("BROOKLYN NY 11212", 40, 152, 22),  # the 7 of 11272 misread as 1
    ("FEDEX HOME DELIVERY", 20, 220, 28),
    ("TRK# 7393 7009 2759", 20, 260, 16),
    ("11272", 300, 300, 40),  # the destination ZIP printed large in the routing area
]
FEDEX_NUMBER = "739370092759"


def test_a_zip_printed_twice_on_the_label_is_not_a_lone_contradiction() -> None:
    exp = Expected(**{**vars_of(EXPECTED), "tracking": FEDEX_NUMBER})
    e = extract_fields(make_page(FEDEX_LABEL), exp)
    assert e.zip == "11212" and e.field_agreement["zip"] == "unsure"
    assert (e.verification, e.mismatch_kind) == ("match", None)
    # A real ZIP change shows on both rows.
    changed = [(t.replace("11212", "11201").replace("11272", "11201"), x, y, h) for t, x, y, h in FEDEX_LABEL]
    e = extract_fields(make_page(changed), exp)
    assert (e.verification, e.mismatch_kind) == ("mismatch", "address_differs")


def ups_number(body15: str) -> str:
    return "1Z" + body15 + str(ups_check_digit(body15))


OTHER_UPS = ups_number("V20X48031234567")  # another parcel's


def test_a_usps_number_where_the_manifest_holds_the_1z_is_no_evidence_of_another_parcel() -> None:
    # SurePost: OCR lost the 1Z line and no barcode decoded; only the USPS IMpb was read. The label carries
    # both numbers, so the IMpb is no evidence against the manifest's 1Z: the address decides (it agrees).
    page = make_page(without(SUREPOST_LABEL, "TRACKING #: 1Z 879 E93 03 4683 4440"))
    e = extract_fields(page, Expected(**{**vars_of(EXPECTED), "tracking": SUREPOST}))
    assert e.tracking_number == NUMBER
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason
    assert "consolidator" in (e.verification_reason or "")
    # The reverse: the manifest holds the USPS number, only the 1Z was read.
    page = make_page(without(SUREPOST_LABEL, "9400 1112 0620 6406 2607 87"))
    e = extract_fields(page, Expected(**{**vars_of(EXPECTED), "tracking": NUMBER}))
    assert e.tracking_number == SUREPOST
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason


def test_another_parcel_on_a_hybrid_label_is_caught_by_the_number_of_the_manifests_carrier() -> None:
    # Both numbers read; the manifest's 1Z is another parcel's: the label's own 1Z (not its IMpb) is compared.
    e = extract_fields(make_page(SUREPOST_LABEL), Expected(**{**vars_of(EXPECTED), "tracking": OTHER_UPS}))
    assert (e.verification, e.mismatch_kind) == ("mismatch", "other_parcel"), e.verification_reason
    assert "1Z879E930346834440" in (e.verification_reason or "")
    # Manifest's number is another USPS IMpb: the label's IMpb decides, whichever number ranks first.
    e = extract_fields(make_page(SUREPOST_LABEL), Expected(**{**vars_of(EXPECTED), "tracking": OTHER_USPS}))
    assert (e.verification, e.mismatch_kind) == ("mismatch", "other_parcel"), e.verification_reason


def test_another_parcel_behind_a_lone_cross_carrier_number_is_caught_by_its_address() -> None:
    # Only the IMpb read, the manifest's 1Z and its consumer belong to another parcel: the number is no
    # evidence, the address (name, street, city, ZIP all differ) is.
    page = make_page(without(SUREPOST_LABEL, "TRACKING #: 1Z 879 E93 03 4683 4440"))
    other = Expected(name="Maria Gonzalez", street="9 Elm Ln", city="Springfield", state="IL", zip="62701",
                     tracking=OTHER_UPS)  # fmt: skip
    e = extract_fields(page, other)
    assert (e.verification, e.mismatch_kind) == ("mismatch", "other_parcel"), e.verification_reason


def test_numbers_of_two_carriers_that_never_share_a_label_are_another_parcel() -> None:
    # A FedEx number where the manifest holds a UPS one: no consolidator prints both, so it is another parcel.
    exp = Expected(**{**vars_of(EXPECTED), "tracking": SUREPOST})
    e = extract_fields(make_page(FEDEX_LABEL), exp)
    assert (e.verification, e.mismatch_kind) == ("mismatch", "other_parcel"), e.verification_reason
    assert not may_share_a_label("ups", "fedex") and may_share_a_label("fedex", "usps")
    assert not may_share_a_label("usps", "usps") and not may_share_a_label("", "ups")
    # A consolidator's own format (DHL eCommerce `GM…`, no table lists it) on the manifest, the USPS IMpb read.
    assert may_share_a_label("", "usps")
    e = extract_fields(
        make_page(USPS_LABEL), Expected(**{**vars_of(EXPECTED), "tracking": "GM295117322530001234"})
    )
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason


GROUND_ECONOMY = "96" + "12019" + "12345678901234"  # FedEx 96: 7-digit prefix, 14-digit serial, check
GROUND_ECONOMY += str(mod10_31_check_digit(GROUND_ECONOMY[7:21]))


def test_fedex_ground_economy_label_read_by_its_usps_number_alone() -> None:
    # FedEx Ground Economy (ex SmartPost): a FedEx 96 barcode number and a USPS IMpb. The manifest holds the
    # FedEx number; only the IMpb was read, and the address agrees: no false alarm.
    label = [
        *SUREPOST_LABEL[:12],
        ("FEDEX GROUND ECONOMY", 20, 320, 28),
        ("USPS TRACKING #", 120, 440, 14),
        ("9400 1112 0620 6406 2607 87", 80, 520, 16),
    ]
    e = extract_fields(make_page(label), Expected(**{**vars_of(EXPECTED), "tracking": GROUND_ECONOMY}))
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason
    # With the FedEx number decoded from its barcode it is the one compared: equal, so the right parcel.
    e = extract_fields(
        make_page(label),
        Expected(**{**vars_of(EXPECTED), "tracking": GROUND_ECONOMY}),
        barcode(GROUND_ECONOMY),
    )
    assert (e.verification, e.mismatch_kind) == ("match", None), e.verification_reason


def test_a_confusion_the_check_digit_cannot_see_is_spelled_as_the_manifest_spells_it() -> None:
    # UPS counts `S` and `5` alike at a doubled position: OCR's `1ZCSLT…` and the printed `1ZC5LT…` both
    # pass the check. The print cannot decide; the manifest does, and only between such spellings.
    printed, read = "1ZC5LT6M6732423947", "1Z CSL T6M 67 3242 3947"
    label = [*USPS_LABEL[:9], ("UPS GROUND", 20, 260, 28), (f"TRACKING #: {read}", 20, 300, 16)]
    assert extract_fields(make_page(label), None).tracking_number == "1ZCSLT6M6732423947"
    e = extract_fields(make_page(label), Expected(**{**vars_of(EXPECTED), "tracking": printed}))
    assert (e.tracking_number, e.tracking_repaired) == (printed, True)
    assert [n["number"] for n in e.tracking_numbers] == [printed]
    assert (e.verification, e.mismatch_kind) == ("match", None)
    # A manifest number that is not a confusion of the read changes nothing.
    e = extract_fields(make_page(label), Expected(**{**vars_of(EXPECTED), "tracking": SUREPOST}))
    assert e.tracking_number == "1ZCSLT6M6732423947"


def test_ship_to_as_ocr_misreads_it_still_closes_the_block_above() -> None:
    # `SHIP TO:` read with a letter lost or the colon as `I`: the sender's lines above must not become the
    # recipient's name (a false recipient_differs).
    for anchor in ("SHP TO:", "SHIP TOI", "SIP TO"):
        label = [
            ("SANDRA WILLIAMS", 20, 80, 14),
            ("115 WILLOW LN", 20, 98, 14),
            ("MONMOUTH MO 6421-1608", 20, 116, 14),  # ZIP misread: not a city row
            *[(anchor if t == "SHIP TO:" else t, x, y, h) for t, x, y, h in USPS_LABEL[5:]],
        ]
        e = extract_fields(make_page(label), EXPECTED)
        assert e.recipient_name == "JOHN SMITH", anchor
        assert (e.verification, e.mismatch_kind) == ("match", None), anchor


def test_a_stray_number_above_the_name_is_not_the_name() -> None:
    label = [("SHIP TO:", 20, 140, 16), ("10", 40, 150, 10), *USPS_LABEL[6:]]
    e = extract_fields(make_page(label), Expected(**{**vars_of(EXPECTED), "name": "Maria Gonzalez"}))
    assert e.recipient_name == "JOHN SMITH"
    assert (e.verification, e.mismatch_kind) == ("match", "recipient_differs")


def test_one_blurred_row_of_a_confident_block_confirms_but_does_not_contradict() -> None:
    # No tracking number read; the ZIP misread in two digits and the name row garbled at low confidence.
    # Two contradicting fields, but only the ZIP was read confidently: unreadable, not a false alarm.
    label = [
        (t.replace("JOHN SMITH", "RUSALER").replace("11272", "11772"), x, y, h) for t, x, y, h in USPS_LABEL
    ]
    label = [it for it in label if not it[0][:1].isdigit() or "MAIN" in it[0]]  # the number lines lost
    exp = Expected(**{**vars_of(EXPECTED), "tracking": None})
    page = make_page(label)
    page.lines = [
        dataclasses.replace(ln, confidence=0.68) if ln.text == "RUSALER" else ln for ln in page.lines
    ]
    e = extract_fields(page, exp)
    assert e.verification == "unreadable", e.verification_reason
    # The same rows all read confidently are two contradictions: another parcel.
    assert extract_fields(make_page(label), exp).verification == "mismatch"


def test_a_check_failing_read_one_character_from_the_manifests_number_is_that_number() -> None:
    # One digit slipped (7 read as 1): the check digit fails and cannot say where. The manifest's number,
    # one character away and valid, locates the slip: the right parcel.
    slipped = [(t.replace("2607 87", "2601 87"), x, y, h) for t, x, y, h in USPS_LABEL]
    alone = extract_fields(make_page(slipped), None)
    assert (alone.tracking_number, alone.tracking_valid) == ("9400111206206406260187", False)
    e = extract_fields(make_page(slipped), EXPECTED)
    assert (e.tracking_number, e.tracking_valid, e.tracking_repaired) == (NUMBER, True, True)
    assert (e.verification, e.mismatch_kind) == ("match", None)
    # …which lets a delivery-point change on the right parcel show.
    e = extract_fields(make_page(slipped), Expected(**{**vars_of(EXPECTED), "city": "Albany"}))
    assert (e.verification, e.mismatch_kind) == ("mismatch", "address_differs")
    # Another parcel's number (valid, two or more characters away) is never taken for the manifest's.
    e = extract_fields(make_page(USPS_LABEL), Expected(**{**vars_of(EXPECTED), "tracking": OTHER_USPS}))
    assert e.tracking_number == NUMBER and e.mismatch_kind == "other_parcel"


def test_a_unit_the_manifest_keeps_in_its_street_is_not_a_different_street() -> None:
    label = [(t.replace("123 MAIN STREET APT 4B", "123 MAIN ST"), x, y, h) for t, x, y, h in USPS_LABEL]
    label.insert(8, ("APT 4B", 40, 204, 24))
    label = [(t, x, 232 if t.startswith("BROOKLYN") else y, h) for t, x, y, h in label]
    e = extract_fields(make_page(label), EXPECTED)  # manifest street: 123 Main St Apt 4B
    assert (e.street, e.unit) == ("123 MAIN ST", "APT 4B")
    assert e.field_agreement["street"] == "agrees"
    assert (e.verification, e.mismatch_kind) == ("match", None)


def test_where_nothing_agrees_a_blurred_row_still_counts() -> None:
    # Another parcel, read only in its name (blurred, low confidence) and street: nothing agrees, so the
    # blurred row is not outvoted by agreeing fields and counts with the street.
    label = [
        ("SHIP TO:", 20, 140, 16),
        ("JOHN SMITH", 40, 162, 24),
        ("ACME SUPPLY CO", 40, 190, 24),
        ("123 MAIN STREET", 40, 218, 24),
    ]
    page = make_page(label)
    page.lines = [
        dataclasses.replace(ln, confidence=0.68) if ln.text == "JOHN SMITH" else ln for ln in page.lines
    ]
    other = Expected(name="Maria Gonzalez", street="9 Elm Ln", city="Springfield", state="IL", zip="62701")
    e = extract_fields(page, other)
    assert (e.recipient_name, e.street) == ("JOHN SMITH", "123 MAIN ST")
    assert (e.verification, e.mismatch_kind) == ("mismatch", "other_parcel"), e.verification_reason


def test_a_letter_in_the_house_number_is_a_misread_not_another_address() -> None:
    # The manifest says 123. `1Z3` is repaired to it; `12B` and `O23` repair to other numbers, but a number
    # printed with a letter in it was misread somewhere; `128`, read as digits, is another house number.
    for read, agreement, verdict in (
        ("1Z3", "agrees", ("match", None)),
        ("12B", "unsure", ("match", None)),
        ("O23", "unsure", ("match", None)),
        ("128", "differs", ("mismatch", "address_differs")),
    ):
        page = [(t.replace("123 MAIN", f"{read} MAIN"), x, y, h) for t, x, y, h in USPS_LABEL]
        e = extract_fields(make_page(page), EXPECTED)
        assert e.field_agreement["house_number"] == agreement, read
        assert (e.verification, e.mismatch_kind) == verdict, read


def replaced(items: list[Item], old: str, new: str) -> list[Item]:
    return [(new if t == old else t, x, y, h) for t, x, y, h in items]


def test_hybrid_label_read_with_slips_still_finds_the_consumer_and_the_manifests_1z() -> None:
    # `USPS` read `OSPS` before DELIVER TO; the 1Z line's label word misread and one digit slipped (879 → 870,
    # failing its check): the consumer's block and the manifest's 1Z (repaired) are still found.
    page = replaced(SUREPOST_LABEL, "USPS DELIVER TO:", "OSPS DELIVER TO:")
    page = replaced(page, "TRACKING #: 1Z 879 E93 03 4683 4440", "TRACKNG «: 1Z 870 E93 03 4683 4440")
    for street, verdict in (
        ("123 Main St Apt 4B", ("match", None)),
        ("40 Oak Ave", ("mismatch", "address_differs")),
    ):
        exp = Expected(**{**vars_of(EXPECTED), "tracking": SUREPOST, "street": street})
        e = extract_fields(make_page(page), exp)
        assert (e.recipient_name, e.street) == ("JOHN SMITH", "123 MAIN ST")
        assert SUREPOST in {n["number"] for n in e.tracking_numbers}
        assert (e.verification, e.mismatch_kind) == verdict, e.verification_reason


def test_a_keyword_colon_read_as_a_letter_is_not_the_name() -> None:
    page = replaced(USPS_LABEL, "SHIP TO:", "TO J")
    e = extract_fields(make_page(page), EXPECTED)
    assert e.recipient_name == "JOHN SMITH"


def test_a_zip_one_look_alike_digit_off_under_the_manifests_street_and_city_is_a_misread() -> None:
    # 11272 read 11212 (7 and 1 look alike): street and city agree, so no address_differs. 11242 (4 is no
    # look-alike of 7), or a look-alike ZIP under another street, still is; so is any ZIP the barcode gives.
    for zip5, street, verdict in (
        ("11212", "123 Main St Apt 4B", ("match", None)),
        ("11242", "123 Main St Apt 4B", ("mismatch", "address_differs")),
        ("11212", "123 Oak Ave Apt 4B", ("mismatch", "address_differs")),
    ):
        page = replaced(USPS_LABEL, "BROOKLYN NY 11272-1234", f"BROOKLYN NY {zip5}-1234")
        e = extract_fields(make_page(page), Expected(**{**vars_of(EXPECTED), "street": street}))
        assert (e.verification, e.mismatch_kind) == verdict, (zip5, street, e.verification_reason)
    exact = extract_fields(
        make_page(USPS_LABEL), Expected(**{**vars_of(EXPECTED), "zip": "11212"}), barcode("42011272" + NUMBER)
    )
    assert (exact.verification, exact.mismatch_kind) == ("mismatch", "address_differs")
