"""Carrier-like tracking numbers with valid check digits, and how each carrier prints them.

The rules are the public ones extraction relies on, so a synthetic number is only "valid" when a real
validator would accept it: UPS `1Z` mod 10, FedEx 12-digit 3-1-7 mod 11, USPS IMpb 22-digit 3-1 mod 10.
Amazon `TBA` numbers carry no check digit.
"""

from __future__ import annotations

import numpy as np

CARRIERS = ("ups", "fedex", "usps", "amazon")

_ALNUM = "0123456789ABCDEFGHJKLMNPRSTUVWXY"  # shipper ids avoid I, O, Q, Z
_UPS_SERVICE_CODES = ("01", "02", "03", "12", "13", "42", "44", "59", "66", "67")
_USPS_PREFIXES = ("9400111", "9400109", "9405511", "9205590", "9261290", "9361289", "9270190", "9305589")


def ups_check_digit(body15: str) -> int:
    """Check digit over the 15 characters after `1Z` (A=2, B=3, ... via (ord-3) % 10; odd positions ×2)."""
    if len(body15) != 15:
        raise ValueError(f"UPS body must be 15 characters, got {body15!r}")
    total = 0
    for i, ch in enumerate(body15.upper()):
        value = int(ch) if ch.isdigit() else (ord(ch) - 3) % 10
        total += value * (2 if i % 2 else 1)
    return (10 - total % 10) % 10


def fedex_check_digit(body11: str) -> int:
    """FedEx Express 12-digit rule: weights 3,1,7 repeating from the left, sum mod 11, then mod 10."""
    if len(body11) != 11 or not body11.isdigit():
        raise ValueError(f"FedEx body must be 11 digits, got {body11!r}")
    weights = (3, 1, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(body11))
    return total % 11 % 10


def usps_check_digit(body21: str) -> int:
    """USPS IMpb mod 10: weights 3,1,3,1,... starting from the rightmost non-check digit."""
    if len(body21) != 21 or not body21.isdigit():
        raise ValueError(f"USPS body must be 21 digits, got {body21!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body21)))
    return (10 - total % 10) % 10


def is_valid(carrier: str, number: str) -> bool:
    """True when `number` (no spaces) has the carrier's shape and a correct check digit."""
    n = number.upper()
    if carrier == "ups":
        return (
            len(n) == 18 and n.startswith("1Z") and n[2:].isalnum() and ups_check_digit(n[2:17]) == int(n[17])
        )
    if carrier == "fedex":
        return len(n) == 12 and n.isdigit() and fedex_check_digit(n[:11]) == int(n[11])
    if carrier == "usps":
        return len(n) == 22 and n.isdigit() and usps_check_digit(n[:21]) == int(n[21])
    if carrier == "amazon":
        return len(n) == 15 and n.startswith("TBA") and n[3:].isdigit()
    raise ValueError(f"unknown carrier {carrier!r}")


def _digits(rng: np.random.Generator, k: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=k))


def make_tracking(carrier: str, rng: np.random.Generator) -> str:
    """A fresh, valid tracking number for `carrier`, without spaces."""
    if carrier == "ups":
        shipper = "".join(_ALNUM[i] for i in rng.integers(0, len(_ALNUM), size=6))
        body = shipper + str(rng.choice(_UPS_SERVICE_CODES)) + _digits(rng, 7)
        return "1Z" + body + str(ups_check_digit(body))
    if carrier == "fedex":
        body = str(rng.integers(1, 10)) + _digits(rng, 10)
        return body + str(fedex_check_digit(body))
    if carrier == "usps":
        prefix = str(rng.choice(_USPS_PREFIXES))
        body = prefix + _digits(rng, 21 - len(prefix))
        return body + str(usps_check_digit(body))
    if carrier == "amazon":
        return "TBA" + str(rng.integers(1, 10)) + _digits(rng, 11)
    raise ValueError(f"unknown carrier {carrier!r}")


def format_tracking(carrier: str, number: str) -> str:
    """The number as the carrier prints it under the barcode (UPS 2-3-3-2-4-4, FedEx 4-4-4, USPS 4s)."""
    cuts: tuple[int, ...]
    if carrier == "ups":
        cuts = (2, 3, 3, 2, 4, 4)
    elif carrier == "fedex":
        cuts = (4, 4, 4)
    elif carrier == "usps":
        cuts = (4, 4, 4, 4, 4, 2)
    else:
        return number
    parts, pos = [], 0
    for c in cuts:
        parts.append(number[pos : pos + c])
        pos += c
    return " ".join(parts)
