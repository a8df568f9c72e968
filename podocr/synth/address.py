"""US people, companies and street addresses for labels and manifests (Faker en_US, seeded per photo).

Street lines are composed here rather than taken from Faker's `street_address()`: Faker's suffix list is
full of rare words ("Stravenue") and mixes the unit into the street; labels print USPS abbreviations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from faker import Faker

# (printed abbreviation, weight): the suffixes that make up most US street names.
_SUFFIXES = (
    ("St", 22),
    ("Ave", 16),
    ("Rd", 12),
    ("Dr", 12),
    ("Ln", 8),
    ("Ct", 6),
    ("Blvd", 5),
    ("Way", 5),
    ("Pl", 4),
    ("Cir", 3),
    ("Ter", 2),
    ("Pkwy", 2),
    ("Trl", 2),
    ("Hwy", 1),
)
_COMMON_NAMES = (
    "Main", "Oak", "Maple", "Pine", "Cedar", "Elm", "Park", "Lake", "Hill", "Washington", "Lincoln",
    "Jefferson", "Highland", "Sunset", "Ridge", "Church", "Mill", "River", "Spring", "Walnut", "Chestnut",
    "Willow", "Forest", "Meadow", "Franklin", "Madison", "Jackson", "Center", "Valley", "Lakeview",
)  # fmt: skip
_DIRECTIONS = ("N", "S", "E", "W", "NE", "NW", "SE", "SW")
_UNIT_KINDS = (("Apt", 5), ("Ste", 3), ("Unit", 2), ("#", 1), ("Fl", 1))
_UNIT_RANGES = {"Apt": (1, 999), "Ste": (100, 1000), "Unit": (1, 300), "#": (1, 500), "Fl": (2, 40)}


@dataclass(frozen=True, slots=True)
class Party:
    """A sender or recipient in canonical mixed case (labels may print it upper-cased)."""

    name: str
    company: str | None
    street: str  # "123 N Main St" (no unit)
    unit: str | None  # "Apt 4B"
    city: str
    state: str
    zip5: str
    zip4: str | None = None
    phone: str | None = None

    @property
    def zip(self) -> str:
        return f"{self.zip5}-{self.zip4}" if self.zip4 else self.zip5

    def upper(self) -> Party:
        up = lambda s: s.upper() if s else s  # noqa: E731
        return replace(
            self,
            name=up(self.name),
            company=up(self.company),
            street=up(self.street),
            unit=up(self.unit),
            city=up(self.city),
        )


@functools.cache
def _faker() -> Faker:
    """One Faker per process; every use re-seeds it, so results never depend on call history."""
    return Faker("en_US")


def _weighted(rng: np.random.Generator, options: tuple[tuple[str, int], ...]) -> str:
    weights = np.array([w for _, w in options], dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def make_party(rng: np.random.Generator, *, company_p: float, unit_p: float, zip4_p: float) -> Party:
    """A plausible US party; Faker is seeded from `rng` so the result depends on nothing else."""
    fake = _faker()
    fake.seed_instance(int(rng.integers(0, 2**31 - 1)))
    first, last = fake.first_name(), fake.last_name()
    name = (
        f"{first} {chr(65 + int(rng.integers(0, 26)))} {last}" if rng.random() < 0.12 else f"{first} {last}"
    )
    company = fake.company() if rng.random() < company_p else None

    digits = int(rng.choice([2, 3, 4, 5], p=[0.2, 0.35, 0.35, 0.1]))
    number = str(int(rng.integers(10 ** (digits - 1), 10**digits)))
    kind = rng.random()
    if kind < 0.5:
        base = fake.last_name()
    elif kind < 0.85:
        base = str(rng.choice(_COMMON_NAMES))
    else:
        base = _ordinal(int(rng.integers(1, 120)))
    words = [number]
    if rng.random() < 0.15:
        words.append(str(rng.choice(_DIRECTIONS)))
    words += [base, _weighted(rng, _SUFFIXES)]
    unit = None
    if rng.random() < unit_p:
        kind_name = _weighted(rng, _UNIT_KINDS)
        lo, hi = _UNIT_RANGES[kind_name]
        ident = str(int(rng.integers(lo, hi)))
        if kind_name in ("Apt", "Unit", "#") and rng.random() < 0.25:
            ident = str(int(rng.integers(1, 30))) + chr(65 + int(rng.integers(0, 8)))
        unit = f"# {ident}" if kind_name == "#" else f"{kind_name} {ident}"

    state = fake.state_abbr(include_territories=False, include_freely_associated_states=False)
    zip5 = fake.zipcode_in_state(state)
    zip4 = f"{int(rng.integers(1, 10000)):04d}" if rng.random() < zip4_p else None
    phone = f"({rng.integers(201, 990)}) {rng.integers(200, 1000)}-{rng.integers(0, 10000):04d}"
    return Party(name, company, " ".join(words), unit, fake.city(), state, zip5, zip4, phone)
