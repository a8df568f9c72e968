"""Carrier payloads → tracking numbers and routing ZIPs, on published example numbers."""

from __future__ import annotations

import pytest

from podocr.barcode.payload import GS, RS, parse_payload
from podocr.extract.tracking import mod10_31_check_digit

UPS = "1Z879E930346834440"  # jkeen/tracking_number README
FEDEX_96 = "9611020987654312345672"  # jkeen/tracking_number README
FEDEX_34 = "1001901781990001000300617767839437"  # a FedEx label barcode; the number is its last 12 digits
IMPB_BODY = (
    "9261290100130435082"  # a 9261 29… USPS IMpb body (consolidator prefix), check digit appended below
)


def impb(body: str) -> str:
    body = body.ljust(21, "7")
    return body + str(mod10_31_check_digit(body))


@pytest.mark.parametrize(
    ("payload", "number", "carrier"),
    [
        (UPS, UPS, "ups"),
        (FEDEX_96, FEDEX_96, "fedex"),
        (FEDEX_34, "617767839437", "fedex"),
        ("TBA123456789012", "TBA123456789012", "amazon"),
    ],
)
def test_single_number_payloads(payload: str, number: str, carrier: str) -> None:
    read = parse_payload("Code128", payload)
    assert [(m.number, m.carrier) for m in read.numbers] == [(number, carrier)]
    assert read.numbers[0].valid


def test_usps_impb_gs1_forms_all_give_number_and_routing_zip() -> None:
    number = impb(IMPB_BODY)
    hri = f"(420)94043({number[:2]}){number[2:]}"
    fnc1 = f"42094043{GS}{number}"
    flat = f"42094043{number}"  # FNC1 lost by the decoder
    zip9 = f"420940431234{number}"
    for payload in (hri, fnc1, flat, zip9):
        read = parse_payload("Code128", payload)
        assert [m.number for m in read.numbers] == [number], payload
        assert read.numbers[0].carrier == "usps" and read.zip == "94043"


def test_maxicode_mh10_message_carries_number_and_zip() -> None:
    payload = f"[)>{RS}01{GS}9684085{GS}840{GS}001{GS}{UPS}{GS}UPSN{GS}1234AB{GS}"
    read = parse_payload("MaxiCode", payload)
    assert [m.number for m in read.numbers] == [UPS] and read.zip == "84085"


def test_mock_number_with_failing_check_is_kept_with_its_carrier_but_not_valid() -> None:
    read = parse_payload("Code128", "1Z88899K2324252627")  # the Dynamsoft mock labels' number
    assert [(m.number, m.carrier, m.valid) for m in read.numbers] == [("1Z88899K2324252627", "ups", False)]


def test_unknown_format_kept_with_empty_carrier_and_text_is_not_a_number() -> None:
    read = parse_payload("Code128", "SPXLAX123456789012")
    assert [(m.number, m.carrier, m.valid) for m in read.numbers] == [("SPXLAX123456789012", "", False)]
    assert parse_payload("Code128", "CA 859 2-37").numbers == ()
    assert parse_payload("QRCode", "https://example.com/track").numbers == ()
    assert parse_payload("Code128", "").numbers == ()
