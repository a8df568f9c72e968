"""Fusion of barcode and OCR numbers, each mismatch_kind, and hybrid (SurePost-style) labels on hand-made reads."""

from __future__ import annotations

from test_extract_pages import EXPECTED, USPS_LABEL, Item, make_page

from podocr.barcode.payload import parse_payload
from podocr.extract import Expected, extract_fields
from podocr.extract.tracking import mod10_31_check_digit

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
    misread = [(t.replace("11272", "11212"), x, y, h) for t, x, y, h in USPS_LABEL]
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
