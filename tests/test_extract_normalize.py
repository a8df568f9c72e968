"""Address normal forms, CITY ST ZIP lines, block parsing, and manifest expectations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from podocr.extract import Expected
from podocr.extract.address import parse_block, parse_city_line, split_street_unit
from podocr.extract.normalize import (
    fix_word,
    normalize_name,
    normalize_state,
    normalize_street,
    normalize_unit,
    normalize_zip,
    ordinal_splits,
    ordinal_suffix,
    street_readings,
)


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("123 Main Street", "123 MAIN ST"),
        ("123 main st.", "123 MAIN ST"),
        ("1600 Pennsylvania Avenue NW", "1600 PENNSYLVANIA AVE NW"),
        ("450 North West Boulevard", "450 N WEST BLVD"),
        ("77 Sunset Road Apartment 4B", "77 SUNSET RD APT 4B"),
        ("9 Elm Lane, Suite #200", "9 ELM LN STE 200"),
        ("12 E. 42nd Street Floor 3", "12 E 42ND ST FL 3"),
        ("55 Oak Court # 12", "55 OAK CT # 12"),
        ("5 Cedar Place", "5 CEDAR PL"),
        ("18 Meadow Drive South", "18 MEADOW DR S"),
        ("3 Park Ave", "3 PARK AVE"),
        ("123MAIN ST", "123 MAIN ST"),  # OCR dropped the space after the house number
        ("1O2 Main St", "102 MAIN ST"),  # O read for 0 in the house number
        ("S23 MAIN 5T", "523 MAIN ST"),  # confusions in the house number and the suffix
        ("12 I02ND ST", "12 102ND ST"),
        ("  123   Main\tSt  ", "123 MAIN ST"),
        ("9 Avenue of the Americas", "9 AVENUE OF THE AMERICAS"),
        ("", ""),
    ],
)
def test_normalize_street(raw: str, norm: str) -> None:
    assert normalize_street(raw) == norm


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("Apartment 3", "APT 3"), ("Suite #200", "STE 200"), ("# 4B", "# 4B"), ("Unit 7", "UNIT 7"), ("", "")],
)
def test_normalize_unit(raw: str, norm: str) -> None:
    assert normalize_unit(raw) == norm


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("New York", "NY"), ("ny", "NY"), ("N.Y.", "NY"), ("0H", "OH"), ("District of Columbia", "DC"), ("XX", None),
     ("", None), (None, None)],
)  # fmt: skip
def test_normalize_state(raw: str | None, norm: str | None) -> None:
    assert normalize_state(raw) == norm


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("11272", "11272"), ("11272-1234", "11272-1234"), ("112721234", "11272-1234"), (7102, "07102"),
     (7102.0, "07102"), ("1I272", "11272"), (float("nan"), None), ("abc", None), (None, None), (True, None)],
)  # fmt: skip
def test_normalize_zip(raw: object, norm: str | None) -> None:
    assert normalize_zip(raw) == norm


def test_normalize_name() -> None:
    assert normalize_name("  O'Brien,  Mary-Ann ") == "O BRIEN MARY-ANN"
    assert normalize_name("R0BERT MYER5") == "ROBERT MYERS"  # OCR digits inside words


@pytest.mark.parametrize(
    ("word", "fixed"),
    [("MYER5", "MYERS"), ("I02ND", "102ND"), ("22N0", "22ND"), ("1ST", "1ST"), ("4B", "4B"), ("14C", "14C"),
     ("MAIN", "MAIN"), ("123", "123")],
)  # fmt: skip
def test_fix_word(word: str, fixed: str) -> None:
    assert fix_word(word) == fixed


@pytest.mark.parametrize(
    ("line", "city", "state", "zipcode"),
    [
        ("BROOKLYN NY 11272", "BROOKLYN", "NY", "11272"),
        ("Brooklyn, NY 11272-1234", "BROOKLYN", "NY", "11272-1234"),
        ("BROOKLYNNY11272", "BROOKLYN", "NY", "11272"),  # every space dropped
        ("BROOKLYN NY11272", "BROOKLYN", "NY", "11272"),
        ("NEW YORK NY 1O0O1", "NEW YORK", "NY", "10001"),  # O read for 0 in the ZIP
        ("SALT LAKE CITY, UT 84101 USA", "SALT LAKE CITY", "UT", "84101"),
        ("COLUMBUS 0H 43004", "COLUMBUS", "OH", "43004"),
        ("SPRINGFIELDIL627011234", "SPRINGFIELD", "IL", "62701-1234"),
        ("PORTLAND, OREGON 97201", "PORTLAND", "OR", "97201"),
        ("5OUTH BEND IN 46601", "SOUTH BEND", "IN", "46601"),
    ],
)
def test_parse_city_line(line: str, city: str, state: str, zipcode: str) -> None:
    parsed = parse_city_line(line)
    assert parsed is not None
    assert (parsed.city, parsed.state, parsed.zip) == (city, state, zipcode)


@pytest.mark.parametrize(
    "line", ["123 MAIN ST", "TEL 718 555 0142", "PRIORITY MAIL", "BROOKLYN XX 11272", "11272"]
)
def test_non_city_lines_are_rejected(line: str) -> None:
    assert parse_city_line(line) is None


@pytest.mark.parametrize(
    ("line", "street", "unit"),
    [
        ("123 MAIN ST APT 4B", "123 MAIN ST", "APT 4B"),
        ("450 N WEST STREET SUITE 200", "450 N WEST STREET", "SUITE 200"),
        ("77 MASSACHUSETTS AVE BLDG 4", "77 MASSACHUSETTS AVE", "BLDG 4"),
        ("55 BROADWAY # 12", "55 BROADWAY", "# 12"),
        ("9 ELM LN", "9 ELM LN", ""),
    ],
)
def test_split_street_unit(line: str, street: str, unit: str) -> None:
    assert split_street_unit(line) == (street, unit)


def test_parse_block_name_company_street_unit() -> None:
    a = parse_block(["JANE DOE", "ACME WIDGETS INC", "123 MAIN STREET", "SUITE 400"])
    assert (a.name, a.company, a.street, a.unit) == ("JANE DOE", "ACME WIDGETS INC", "123 MAIN ST", "STE 400")


def test_parse_block_attention_line_is_the_person() -> None:
    a = parse_block(["GLOBEX CORP", "ATTN: HANK SCORPIO", "1 CYPRESS CREEK PKWY"])
    assert (a.name, a.company, a.street) == ("HANK SCORPIO", "GLOBEX CORP", "1 CYPRESS CREEK PKWY")


def test_parse_block_drops_phone_lines() -> None:
    a = parse_block(["JOHN SMITH", "123 MAIN ST", "TEL (718) 555-0142"])
    assert (a.name, a.street, a.unit) == ("JOHN SMITH", "123 MAIN ST", None)


def test_expected_from_row_tolerates_missing_values() -> None:
    row = {"expected_name": "Jane Doe", "expected_street": float("nan"), "expected_city": "  ",
           "expected_state": None, "expected_zip": 7102.0, "expected_tracking_number": "1Z5R89390357567127",
           "other": 1}  # fmt: skip
    e = Expected.from_row(row)
    assert e == Expected(name="Jane Doe", zip="07102", tracking="1Z5R89390357567127")
    assert not e.empty
    assert Expected.from_row({}).empty
    assert Expected.from_row({"expected_zip": math.nan, "expected_name": "nan"}).empty
    assert Expected.from_row(
        {"expected_zip": np.int64(7102), "expected_state": np.float64("nan")}
    ) == Expected(zip="07102")
    assert Expected.from_row({"expected_city": pd.NA, "expected_tracking": None}).empty


def test_ordinal_splits_keep_only_well_formed_ordinals() -> None:
    assert ordinal_splits("84407TH") == [("8440", "7TH"), ("84", "407TH"), ("8", "4407TH")]
    assert ordinal_splits("12312TH") == [("123", "12TH"), ("12", "312TH"), ("1", "2312TH")]  # not `2TH`
    assert ordinal_splits("1002ND") == [("100", "2ND")]  # no part starts with 0
    assert ordinal_splits("4211TH") == [("42", "11TH"), ("4", "211TH")]  # 11TH, not 1ST
    assert ordinal_splits("7TH") == [] and ordinal_splits("12ST") == []
    assert [ordinal_suffix(n) for n in ("1", "2", "3", "4", "11", "12", "13", "21", "22", "101", "111")] == [
        "ST", "ND", "RD", "TH", "TH", "TH", "TH", "ST", "ND", "ST", "TH"]  # fmt: skip


def test_glued_house_number_and_ordinal_street() -> None:
    assert normalize_street("84407TH AVENUE APT 4") == "8440 7TH AVE APT 4"
    assert street_readings("84407TH AVE") == ["8440 7TH AVE", "84 407TH AVE", "8 4407TH AVE"]
    # An ordinal with a street name after it, or with its house number, is left alone.
    assert normalize_street("12 7TH AVE") == "12 7TH AVE" and normalize_street("7TH AVE") == "7TH AVE"
    assert normalize_street("8440 7TH AVE") == "8440 7TH AVE" and street_readings("8440 7TH AVE") == [
        "8440 7TH AVE"
    ]
    assert normalize_street("100TH ST") == "100TH ST"  # no well-formed split
