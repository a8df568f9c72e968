"""Sample everything about one photo *before* drawing it: content, geometry and photometry.

Sampling is cheap and pixel-free, so distribution tests (and anyone planning a benchmark) can look at
thousands of scenes without rendering. Each photo gets its own random streams derived from (seed, index),
which is what makes a batch byte-identical regardless of how it is split across workers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from podocr.synth.address import Party, make_party
from podocr.synth.tracking import CARRIERS, make_tracking

LABEL_W_MM, LABEL_H_MM = 101.6, 152.4  # 4×6 in thermal label, portrait
XHEIGHT_PER_EM = 0.53  # typical sans x-height / em size, used to plan text size in pixels
# Streams of one photo's randomness; keep them separate so a change to one stage does not reshuffle others.
STREAM_SCENE, STREAM_LABEL, STREAM_RENDER = 0, 1, 2
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def rng_for(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index), int(stream)])


def photo_id(seed: int, index: int) -> str:
    return f"s{seed}_{index:06d}"


@dataclass(frozen=True, slots=True)
class Distribution:
    """The generator's knobs; the defaults are the documented distribution (docs/synth.md)."""

    no_label_p: float = 0.05  # hard negatives: a box with distractor print only, or just floor
    unreadable_p: float = 0.05  # extreme blur or a tiny label
    mismatch_p: float = 0.12  # share of ALL manifest rows that expect a different parcel (other_parcel)
    address_differs_p: float = 0.08  # ... that expect this parcel at an address one delivery field away
    recipient_differs_p: float = 0.03  # ... that expect this parcel and address under another name
    hybrid_p: float = (
        0.15  # label photos with a consolidator layout (SHIP TO post office, DELIVER TO, 2 numbers)
    )
    carriers: tuple[str, ...] = CARRIERS
    rot_quarter_p: float = 0.10  # near 90° / 270°
    rot_half_p: float = 0.05  # near 180°
    rot_small_sd: float = 9.0  # the rest: normal, clipped to ±rot_small_max
    rot_small_max: float = 25.0
    area_min: float = 0.08  # label area / frame area
    area_max: float = 0.70
    min_xheight_px: float = 10.0  # recipient x-height wanted on readable photos ...
    xheight_enforce_p: float = 0.85  # ... on this share of them (the rest keep whatever the frame gives)
    blur_buckets: tuple[tuple[str, float], ...] = (("none", 0.45), ("mild", 0.40), ("severe", 0.15))
    big_photo_p: float = 0.08  # 4032×3024 (either orientation)
    portrait_p: float = 0.6
    mailer_p: float = 0.35
    backgrounds: tuple[tuple[str, float], ...] = (
        ("wood", 0.2),
        ("concrete", 0.17),
        ("doormat", 0.15),
        ("porch", 0.15),
        ("tiles", 0.14),
        ("grass", 0.11),
        ("carpet", 0.08),
    )
    low_light_p: float = 0.12
    shadow_p: float = 0.3
    glare_p: float = 0.2
    cast_p: float = 0.25
    max_side: int | None = None  # shrink every frame to this long side (same content): fast tests


DEFAULT_DISTRIBUTION = Distribution()
RECIPIENT_EM_MM = {"ups": 4.3, "fedex": 4.1, "usps": 4.4, "amazon": 4.7}  # label.py lays out with these


@dataclass(frozen=True, slots=True)
class Geometry:
    rotation_deg: float  # clockwise rotation of the label's reading direction in the image (target)
    label_area_frac: float  # target label area / frame area
    tilt_deg: float  # camera tilt away from looking straight down
    tilt_axis_deg: float
    focal_scale: float  # focal length / long side of the photo (phone main cameras ≈ 0.75–0.95)
    center: tuple[float, float]  # where the label sits, as fractions of the free room left in the frame
    label_on_parcel: tuple[float, float]  # label centre on the parcel top, as fractions of the free room
    label_skew_deg: float  # label rotation relative to the parcel's edges
    parcel_mm: tuple[float, float, float]  # width, depth, height of the parcel (mailer: height ≈ thickness)
    bend_mm: float  # sine-warp amplitudes (curvature); 0 = flat
    bend_wavelength_mm: float
    bend_phase: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Photometry:
    blur: str  # none | mild | severe  (unreadable photos are severe)
    blur_kind: str  # gaussian | motion
    blur_sigma: float  # gaussian sigma in px; for motion blur the equivalent sigma (length / √12)
    motion_px: float  # motion streak length in px (0 for gaussian)
    motion_angle_deg: float
    noise_sigma: float  # in 8-bit levels
    jpeg_q: int
    exposure: float  # 1 = normal; < 0.6 = low light
    low_light: bool
    gains: tuple[float, float, float]  # B, G, R white-balance gains
    cast: str  # neutral | warm | cool | green
    gradient: float  # strength of the lighting gradient
    gradient_angle_deg: float
    vignette: float
    shadow: float  # 0 = no hard shadow, else darkening factor of the shadowed area
    glare: float  # 0 = no glare, else peak strength
    glare_on_label: bool
    sharpen: float


@dataclass(frozen=True, slots=True)
class Scene:
    seed: int
    index: int
    id: str
    width: int
    height: int
    content: str  # label | box_no_label | floor_only
    unreadable: str | None  # None | blur | tiny
    carrier: str  # ups | fedex | usps | amazon | none
    tracking: str | None
    recipient: Party  # on the label (for no-label photos: the parcel the manifest expects)
    sender: Party
    upper: bool  # recipient block printed in capitals
    ship_date: str
    mismatch: bool  # the manifest row expects another parcel, or this one at another address
    expected: Party
    expected_tracking: str
    mismatch_kind: str | None  # other_parcel | address_differs | recipient_differs | None
    changed_field: str | None  # address_differs: house_number | street | city | zip
    layout: str  # standard | hybrid
    tracking2: str | None  # hybrid: the USPS IMpb number next to the UPS 1Z
    post_office: Party | None  # hybrid: the induction post office printed under SHIP TO
    background: str
    parcel: str | None  # box | mailer | None
    est_xheight_px: float  # planned recipient x-height in the final photo
    geometry: Geometry
    photometry: Photometry

    @property
    def hard_negative(self) -> bool:
        return self.content != "label"

    @property
    def expected_verification(self) -> str:
        """What a perfect verifier should answer for this photo's manifest row."""
        if self.hard_negative or self.unreadable:
            return "unreadable"
        return "mismatch" if self.mismatch and self.mismatch_kind != "recipient_differs" else "match"


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    p = np.array([w for _, w in options], dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))][0]


def _frame_size(rng: np.random.Generator, d: Distribution) -> tuple[int, int]:
    if rng.random() < d.big_photo_p:
        long_side, short_side = 4032, 3024
    else:
        long_side = int(
            rng.choice([1024, 1280, 1440, 1600, 1920, 2048], p=[0.14, 0.14, 0.16, 0.16, 0.2, 0.2])
        )
        aspect = 16 / 9 if rng.random() < 0.2 else 4 / 3
        short_side = int(round(long_side / aspect / 8) * 8)
    if d.max_side is not None and long_side > d.max_side:
        short_side = round(short_side * d.max_side / long_side)
        long_side = d.max_side
    if rng.random() < d.portrait_p:
        return short_side, long_side
    return long_side, short_side


def _rotation(rng: np.random.Generator, d: Distribution) -> float:
    u = rng.random()
    if u < d.rot_quarter_p:
        return float((90.0 if rng.random() < 0.5 else -90.0) + rng.normal(0, 4.0))
    if u < d.rot_quarter_p + d.rot_half_p:
        return float(180.0 + rng.normal(0, 4.0))
    return float(np.clip(rng.normal(0, d.rot_small_sd), -d.rot_small_max, d.rot_small_max))


def label_height_px(area_frac: float, width: int, height: int) -> float:
    """Height of an upright 4×6 label covering `area_frac` of the frame."""
    return math.sqrt(area_frac * width * height * LABEL_H_MM / LABEL_W_MM)


def _photometry(
    rng: np.random.Generator, d: Distribution, xheight_px: float, unreadable: str | None
) -> Photometry:
    blur = "severe" if unreadable == "blur" else _choice(rng, d.blur_buckets)
    kind = "motion" if rng.random() < 0.35 else "gaussian"
    # Blur is sized against the text so the buckets mean the same readability at every photo size.
    rel = {
        "none": rng.uniform(0.0, 0.03),
        "mild": rng.uniform(0.06, 0.14),
        "severe": rng.uniform(0.2, 0.32),
    }[blur]
    if unreadable == "blur":
        rel = rng.uniform(0.9, 1.4)
    sigma = rel * xheight_px
    if blur == "mild":
        sigma = max(sigma, 0.6)
    elif blur == "severe":
        sigma = max(sigma, 1.8)
    motion_px = sigma * math.sqrt(12.0) if kind == "motion" else 0.0
    low_light = bool(rng.random() < d.low_light_p)
    cast = "neutral"
    gains = 1.0 + rng.normal(0, 0.035, size=3)
    if rng.random() < d.cast_p:
        cast = str(rng.choice(["warm", "cool", "green"]))
        gains *= {"warm": (0.84, 0.97, 1.12), "cool": (1.12, 1.0, 0.88), "green": (0.97, 1.06, 0.95)}[cast]
    return Photometry(
        blur=blur,
        blur_kind=kind,
        blur_sigma=round(float(sigma), 3),
        motion_px=round(float(motion_px), 2),
        motion_angle_deg=float(rng.uniform(0, 180)),
        noise_sigma=float(rng.uniform(1.0, 4.0) * (rng.uniform(1.8, 3.0) if low_light else 1.0)),
        jpeg_q=int(rng.integers(80, 96) if rng.random() < 0.6 else rng.integers(40, 80)),
        exposure=float(rng.uniform(0.28, 0.55) if low_light else rng.uniform(0.85, 1.12)),
        low_light=low_light,
        gains=(float(gains[0]), float(gains[1]), float(gains[2])),
        cast=cast,
        gradient=float(rng.uniform(0.0, 0.45)),
        gradient_angle_deg=float(rng.uniform(0, 360)),
        vignette=float(rng.uniform(0.0, 0.35)),
        shadow=float(rng.uniform(0.35, 0.65)) if rng.random() < d.shadow_p else 0.0,
        glare=float(rng.uniform(0.3, 0.75)) if rng.random() < d.glare_p else 0.0,
        glare_on_label=bool(rng.random() < 0.6),
        sharpen=float(rng.uniform(0.2, 0.9)) if rng.random() < 0.4 else 0.0,
    )


DELIVERY_FIELDS = ("house_number", "street", "city", "zip")
KINDS = ("other_parcel", "address_differs", "recipient_differs")


def change_one_field(party: Party, rng: np.random.Generator) -> tuple[Party, str]:
    """`party` with one delivery-point field changed, as a customer's correction or a misprint would."""
    changed = str(rng.choice(DELIVERY_FIELDS))
    other = make_party(rng, company_p=0.0, unit_p=0.0, zip4_p=0.0)
    number, _, rest = party.street.partition(" ")
    if changed == "house_number":
        new = str(int(number) + int(rng.integers(2, 40)) * (1 if rng.random() < 0.5 else -1))
        new = new if int(new) > 0 else str(int(number) + 17)
        return dataclasses.replace(party, street=f"{new} {rest}"), changed
    if changed == "street":
        _, _, other_rest = other.street.partition(" ")
        return dataclasses.replace(party, street=f"{number} {other_rest}"), changed
    if changed == "city":
        return dataclasses.replace(
            party, city=other.city if other.city != party.city else "Springfield"
        ), changed
    new_zip = party.zip5[:3] + f"{(int(party.zip5[3:]) + int(rng.integers(1, 99))) % 100:02d}"
    return dataclasses.replace(party, zip5=new_zip, zip4=None), changed


def sample_scene(seed: int, index: int, dist: Distribution = DEFAULT_DISTRIBUTION) -> Scene:
    """All parameters of photo `index` of the batch `seed`; no pixels are made."""
    rng = rng_for(seed, index, STREAM_SCENE)
    d = dist
    width, height = _frame_size(rng, d)

    u = rng.random()
    content, unreadable = "label", None
    if u < d.no_label_p:
        content = "box_no_label" if rng.random() < 0.5 else "floor_only"
    elif u < d.no_label_p + d.unreadable_p:
        unreadable = "blur" if rng.random() < 0.5 else "tiny"
    has_label = content == "label"
    readable = has_label and unreadable is None

    carrier = str(rng.choice(d.carriers))
    recipient = make_party(rng, company_p=0.2, unit_p=0.3, zip4_p=0.35)
    sender = make_party(rng, company_p=0.75, unit_p=0.15, zip4_p=0.3)
    tracking = make_tracking(carrier, rng)
    # Planted misdeliveries only where a perfect reader could tell, scaled so they are mismatch_p of all rows.
    # A golden-ratio (Weyl) sequence instead of a coin flip: any run of photos gets very nearly its share.
    weyl = (math.sqrt(2.0) * (seed + 1) + index * GOLDEN) % 1.0
    share = 1.0 - d.no_label_p - d.unreadable_p
    cuts = np.cumsum([d.mismatch_p, d.address_differs_p, d.recipient_differs_p]) / share
    kinds = ("other_parcel", "address_differs", "recipient_differs")
    mismatch_kind = (
        next((k for k, c in zip(kinds, cuts, strict=True) if weyl < c), None) if readable else None
    )
    mismatch = mismatch_kind is not None
    expected, expected_tracking = recipient, tracking
    changed_field = None
    if mismatch_kind == "other_parcel":
        expected = make_party(rng, company_p=0.2, unit_p=0.3, zip4_p=0.35)
        expected_tracking = make_tracking(carrier, rng)
    elif mismatch_kind == "address_differs":
        expected, changed_field = change_one_field(recipient, rng)
    elif mismatch_kind == "recipient_differs":
        other = make_party(rng, company_p=0.0, unit_p=0.0, zip4_p=0.0)
        expected = dataclasses.replace(recipient, name=other.name)
    layout, tracking2, post_office = "standard", None, None
    if has_label and carrier == "ups" and rng.random() < min(1.0, d.hybrid_p * len(d.carriers)):
        layout = "hybrid"
        tracking2 = make_tracking("usps", rng)
        po = make_party(rng, company_p=0.0, unit_p=0.0, zip4_p=0.0)
        post_office = dataclasses.replace(po, name="POSTMASTER", company="US POST OFFICE", state=recipient.state,
                                          zip5=recipient.zip5[:3] + po.zip5[3:], zip4=None, phone=None)  # fmt: skip
        if mismatch_kind in (None, "address_differs", "recipient_differs") and rng.random() < 0.5:
            expected_tracking = tracking2  # the manifest may hold either number of a hybrid parcel
        elif mismatch_kind == "other_parcel" and rng.random() < 0.5:
            expected_tracking = make_tracking("usps", rng)
    ship_date = (dt.date(2025, 3, 3) + dt.timedelta(days=int(rng.integers(0, 365)))).isoformat()

    # Size: label area share first, then make sure the recipient text is big enough to read (mostly).
    area = float(math.exp(rng.uniform(math.log(d.area_min), math.log(d.area_max))))
    em_mm = RECIPIENT_EM_MM[carrier]
    xh_per_label_px = XHEIGHT_PER_EM * em_mm / LABEL_H_MM  # recipient x-height per px of label height
    if unreadable == "tiny":  # recipient x-height 1.5–3.5 px: nothing can read that
        tiny_h = rng.uniform(1.5, 3.5) / xh_per_label_px
        area = float(tiny_h**2 * LABEL_W_MM / LABEL_H_MM / (width * height))
    elif readable and rng.random() < d.xheight_enforce_p:
        need_h = d.min_xheight_px / xh_per_label_px * rng.uniform(1.0, 1.35)
        need_area = need_h**2 * LABEL_W_MM / LABEL_H_MM / (width * height)
        area = float(min(d.area_max, max(area, need_area)))
    xheight = label_height_px(area, width, height) * xh_per_label_px

    parcel = None if content == "floor_only" else ("mailer" if rng.random() < d.mailer_p else "box")
    sideways = rng.random() < 0.3  # label turned 90° relative to the box's long side
    lw, lh = (LABEL_H_MM, LABEL_W_MM) if sideways else (LABEL_W_MM, LABEL_H_MM)
    if parcel == "mailer":
        dims = (lw + rng.uniform(50, 200), lh + rng.uniform(60, 260), rng.uniform(8, 25))
        bend = rng.uniform(0.8, 2.5)
    else:
        dims = (lw + rng.uniform(30, 330), lh + rng.uniform(25, 260), rng.uniform(90, 380))
        bend = rng.uniform(0.3, 1.2) if rng.random() < 0.3 else 0.0
    wavelength = rng.uniform(260, 600)  # amplitude ≤ 2.5 mm keeps text ≥ 3 mm from the edge inside label_poly
    rotation = _rotation(rng, d)
    geometry = Geometry(
        rotation_deg=rotation,
        label_area_frac=area,
        tilt_deg=float(rng.uniform(0, 12) if rng.random() < 0.3 else rng.uniform(8, 34)),
        tilt_axis_deg=float(rng.uniform(0, 360)),
        focal_scale=float(rng.uniform(0.72, 1.0)),
        center=(float(rng.beta(2.2, 2.2)), float(rng.beta(2.2, 2.2))),
        label_on_parcel=(float(rng.uniform(0, 1)), float(rng.uniform(0, 1))),
        label_skew_deg=float((90.0 if sideways else 0.0) + rng.normal(0, 3.0)),
        parcel_mm=(float(dims[0]), float(dims[1]), float(dims[2])),
        bend_mm=float(bend),
        bend_wavelength_mm=float(wavelength),
        bend_phase=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))),
    )
    background = _choice(rng, d.backgrounds)
    photometry = _photometry(rng, d, xheight, unreadable)
    return Scene(
        seed=seed,
        index=index,
        id=photo_id(seed, index),
        width=width,
        height=height,
        content=content,
        unreadable=unreadable,
        carrier=carrier if has_label else "none",
        tracking=tracking if has_label else None,
        recipient=recipient,
        sender=sender,
        upper=bool(rng.random() < 0.7),
        ship_date=ship_date,
        mismatch=mismatch,
        expected=expected,
        expected_tracking=expected_tracking,
        mismatch_kind=mismatch_kind,
        changed_field=changed_field,
        layout=layout,
        tracking2=tracking2,
        post_office=post_office,
        background=background,
        parcel=parcel,
        est_xheight_px=float(xheight),
        geometry=geometry,
        photometry=photometry,
    )
