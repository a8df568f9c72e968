"""Tracking numbers read from a string: carriers, check digits, OCR-confusion repair."""

from __future__ import annotations

import itertools

import pytest

from podocr.extract.tracking import (
    SWAPS,
    canonical_tracking,
    confusable_equal,
    dhl_check_digit,
    fedex12_check_digit,
    match_tracking,
    mod10_31_check_digit,
    ups_check_digit,
)

# Published test numbers (jkeen/tracking_number_data couriers/*.json), spaces as printed.
VALID = [
    ("1Z5R89390357567127", "ups", "1Z5R89390357567127"),
    ("1Z879E930346834440", "ups", "1Z879E930346834440"),
    ("1Z410E7W0392751591", "ups", "1Z410E7W0392751591"),
    ("1Z 5R8 939 03 5756 7127", "ups", "1Z5R89390357567127"),
    ("986578788855", "fedex", "986578788855"),
    ("4771 7908 1230", "fedex", "477179081230"),
    ("0414 4176 0228 964", "fedex", "041441760228964"),
    ("5682 8361 0012 734", "fedex", "568283610012734"),
    ("9611020987654312345672", "fedex", "9611020987654312345672"),
    ("0307 1790 0005 2348 3741", "usps", "03071790000523483741"),
    ("9400 1112 0620 6406 2607 87", "usps", "9400111206206406260787"),
    ("9400111206206406260787", "usps", "9400111206206406260787"),
    ("420787459400111206206406260787", "usps", "9400111206206406260787"),
    ("420 22153 9101026837331000039521", "usps", "9101026837331000039521"),
    ("9505 5110 6960 5048 6006 24", "usps", "9505511069605048600624"),
    ("92748931507708513018050063", "usps", "92748931507708513018050063"),
    ("TBA502887274000", "amazon", "TBA502887274000"),
    ("TBA 0100 0000 0000", "amazon", "TBA010000000000"),
    ("3318810025", "dhl", "3318810025"),
    ("8487135506", "dhl", "8487135506"),
]

INVALID = [
    "1Z5R89390357567128",
    "1Z1111111111111111",
    "996578788855",
    "5682 8361 0012 732",
    "0307 1790 0005 2348 3742",
    "9600000000000000000001",
    "9200000000000000000000",
    "9400111206206406260788",
    "3318810010",
    "3318810034",
]

NOT_TRACKING = ["2Z5R89390357567127", "1A5R89390357567127", "TBB000000000000", "TBA50288727400A", "11272-1234",
                "(718) 555-0142", "123456789", ""]  # fmt: skip


@pytest.mark.parametrize(("text", "carrier", "number"), VALID)
def test_published_valid_numbers_pass_as_written(text: str, carrier: str, number: str) -> None:
    m = match_tracking(text, repair=False)
    assert m is not None and m.valid and not m.repaired
    assert (m.carrier, m.number) == (carrier, number)


@pytest.mark.parametrize("text", INVALID)
def test_published_invalid_numbers_fail_the_check_digit(text: str) -> None:
    m = match_tracking(text, repair=False)
    assert m is None or not m.valid


@pytest.mark.parametrize("text", NOT_TRACKING)
def test_other_strings_are_not_tracking_numbers(text: str) -> None:
    m = match_tracking(text)
    assert m is None or not m.valid


def test_check_digit_functions_on_worked_examples() -> None:
    assert ups_check_digit("5R8939035756712") == 7
    assert fedex12_check_digit("98657878885") == 5
    assert mod10_31_check_digit("940011120620640626078") == 7
    assert mod10_31_check_digit("0307179000052348374") == 1
    assert mod10_31_check_digit("98765431234567") == 2  # FedEx 96: only the 14-digit serial is summed
    assert dhl_check_digit("331881002") == 5


def test_every_single_character_change_of_a_usps_number_is_caught() -> None:
    number = "9400111206206406260787"
    for pos, digit in itertools.product(range(2, 22), "0123456789"):
        if digit == number[pos]:
            continue
        changed = number[:pos] + digit + number[pos + 1 :]
        m = match_tracking(changed)
        assert m is None or not m.valid, changed


@pytest.mark.parametrize(
    ("read", "truth"),
    [
        ("94OO 1112 0620 6406 2607 87", "9400111206206406260787"),  # two letters in digit positions: mapped
        ("9400 I112 0620 6406 2607 87", "9400111206206406260787"),
        ("IZ5R89390357567127", "1Z5R89390357567127"),  # the 1Z prefix itself misread
        ("125R89390357567127", "1Z5R89390357567127"),
        ("1Z5R89390357567I27", "1Z5R89390357567127"),  # a letter among the 8 package digits
        ("1Z4I0E7W0392751591", "1Z410E7W0392751591"),  # shipper characters: a searched, unique repair
        ("1ZUMX7D74Z99967634", "1ZUMX7D74299967634"),  # service code: its second character is a digit
        ("98657878BB55", "986578788855"),
        ("T8A502887274000", "TBA502887274000"),
        ("96110209876543I2345672", "9611020987654312345672"),
    ],
)
def test_confusions_are_repaired_when_one_repair_passes(read: str, truth: str) -> None:
    m = match_tracking(read)
    assert m is not None and m.valid and m.repaired
    assert m.number == truth


def test_repair_is_refused_when_two_repairs_pass() -> None:
    read = "1ZSR89390357567127"  # S→5 (the truth) and 8→B both make the UPS check digit pass
    passing = []
    for pos in range(2, 10):
        for alt in SWAPS.get(read[pos], ""):
            trial = read[:pos] + alt + read[pos + 1 :]
            if ups_check_digit(trial[2:17]) == int(trial[17]):
                passing.append(trial)
    assert len(passing) >= 2 and "1Z5R89390357567127" in passing
    m = match_tracking(read)
    assert m is not None and m.carrier == "ups"
    assert not m.valid and not m.repaired and m.number == read


def test_repair_needs_at_most_two_substitutions() -> None:
    assert match_tracking("94OO 1112 O620 6406 2607 87") is None  # three letters: not a number
    m = match_tracking("94OO 1112 0620 6406 2607 88")  # two mapped, check still fails: no search left
    assert m is not None and not m.valid and not m.repaired


def test_a_wrong_digit_is_not_repaired() -> None:
    m = match_tracking("9400111206206406260788")
    assert m is not None and m.carrier == "usps" and not m.valid and not m.repaired


def test_canonical_tracking_for_manifest_values() -> None:
    assert canonical_tracking(" 9400 1112 0620 6406 2607 87 ") == "9400111206206406260787"
    assert canonical_tracking("420787459400111206206406260787") == "9400111206206406260787"
    assert canonical_tracking("1z5r89390357567127") == "1Z5R89390357567127"
    assert canonical_tracking("ORDER-55-A") == "ORDER55A"
    assert canonical_tracking(None) is None
    assert canonical_tracking("  ") is None


def test_some_confusions_keep_the_ups_check_digit_passing() -> None:
    # S counts (83 - 3) mod 10 = 0 and 5 counts 5: doubled, both are 0 mod 10 — the check cannot tell them apart.
    truth, misread = "1Z9RC55X0191111856", "1Z9RCS5X0191111856"
    for number in (truth, misread):
        m = match_tracking(number)
        assert m is not None and m.valid and not m.repaired
    assert confusable_equal(truth, misread) and confusable_equal(misread, truth)
    assert not confusable_equal(truth, "1Z9RC55X0191111857")
    assert not confusable_equal(truth, truth[:-1])
