"""The parcel's top surface: cardboard box (flap seam, tape, printing) or poly mailer, in plane millimetres.

Printing is deliberate distractor text ("FRAGILE", "THIS SIDE UP", brand names): a reader has to find
the *label's* text among other text. Its polygons are returned so the record can list it separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from podocr.synth import fonts
from podocr.synth.textures import Img, cardboard, mailer, stamp_text

BRANDS = (
    "NORTHLINE",
    "PACKWELL",
    "BOXCRAFT",
    "TERRA GOODS",
    "BLUE HERON",
    "SUMMIT SUPPLY",
    "ACME CO",
    "URBANLEAF",
    "KIND HOME",
)
INKS = (
    (0.12, 0.12, 0.14),
    (0.55, 0.25, 0.1),
    (0.15, 0.12, 0.7),
    (0.2, 0.45, 0.15),
)  # BGR: black, blue, red, green


@dataclass(slots=True)
class Tape:
    kind: str  # clear | brown | white
    along_x: bool  # runs along the plane's x axis (over the flap seam)
    width_mm: float
    colour: tuple[float, float, float]
    opacity: float


@dataclass(slots=True)
class Surface:
    """A parcel top texture: premultiplied BGRA float32, `r` px per mm, origin at the parcel's top-left."""

    rgba: Img
    r: float
    tape: Tape | None
    words: list[tuple[str, np.ndarray]] = field(default_factory=list)  # printed text, corners in texture px
    base: tuple[float, float, float] = (0.36, 0.55, 0.72)


def _text_box(centre: tuple[float, float], text: str, size: float, angle_deg: float) -> np.ndarray:
    """Rough corners of `text` printed at `size` px, rotated: enough to keep print clear of the label."""
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * (len(text) * size * 0.36, size * 0.6)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return half @ np.array([[c, -s], [s, c]]).T + centre


def _overlaps(poly: np.ndarray, keep_out: np.ndarray, margin: float) -> bool:
    a0, a1 = poly.min(0) - margin, poly.max(0) + margin
    b0, b1 = keep_out.min(0), keep_out.max(0)
    return bool(np.all(a0 < b1) and np.all(b0 < a1))


def _tape(img: Img, r: float, along_x: bool, rng: np.random.Generator) -> Tape:
    h, w = img.shape[:2]
    width = 48.0 if rng.random() < 0.75 else 72.0
    kind = str(rng.choice(["clear", "brown", "white"], p=[0.55, 0.3, 0.15]))
    colour, opacity = {
        "clear": ((0.9, 0.92, 0.94), 0.18),
        "brown": ((0.3, 0.5, 0.68), 0.85),
        "white": ((0.9, 0.9, 0.9), 0.95),
    }[kind]
    half = width * r / 2
    centre = (h if along_x else w) / 2 + rng.normal(0, 3) * r
    lo, hi = max(0, int(centre - half)), int(centre + half)
    band = img[lo:hi, :] if along_x else img[:, lo:hi]
    band *= 1 - opacity
    band += np.array(colour, np.float32) * opacity
    # gloss streaks along the tape and darker edges where it lifts
    streak = np.linspace(0, 1, band.shape[0] if along_x else band.shape[1], dtype=np.float32)
    shine = (0.06 if kind != "white" else 0.03) * np.exp(-((streak - rng.uniform(0.2, 0.8)) ** 2) / 0.01)
    band += (shine[:, None, None] if along_x else shine[None, :, None]) * (1 if kind != "clear" else 2.0)
    edge = max(1, round(0.5 * r))
    for e in (lo, hi - edge):
        if along_x:
            img[e : e + edge, :] *= 0.82
        else:
            img[:, e : e + edge] *= 0.82
    return Tape(kind, along_x, width, colour, opacity)


def _arrow(img: Img, x: float, y: float, size: float, angle: float, ink: tuple[float, float, float]) -> None:
    pts = np.array(
        [[0, -1], [0.7, -0.2], [0.25, -0.2], [0.25, 1], [-0.25, 1], [-0.25, -0.2], [-0.7, -0.2]], np.float64
    )
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    pts = pts @ np.array([[c, -s], [s, c]]).T * size / 2 + (x, y)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 4).astype(np.int32)], 1, lineType=cv2.LINE_AA, shift=2)
    img[mask > 0] *= np.array(ink, np.float32) * 0.8 + 0.2


def _print(
    img: Img, r: float, keep_out: np.ndarray, rng: np.random.Generator
) -> list[tuple[str, np.ndarray]]:
    """0–4 printed marks placed off the label; returns (text, corners px) for each word printed."""
    h, w = img.shape[:2]
    words: list[tuple[str, np.ndarray]] = []
    family = fonts.pick(fonts.SANS, int(rng.integers(0, 99)))
    items = ["FRAGILE", "THIS SIDE UP", "HANDLE WITH CARE", "brand", "brand", "KEEP DRY", "RECYCLABLE"]
    for item in rng.choice(items, size=int(rng.integers(0, 5)), replace=False):
        ink = INKS[2] if item == "FRAGILE" else INKS[int(rng.integers(len(INKS)))]
        text = str(rng.choice(BRANDS)) if item == "brand" else str(item)
        size = rng.uniform(14, 40) * r if item != "RECYCLABLE" else rng.uniform(6, 10) * r
        angle = float(rng.choice([0, 0, 90, 180, -90]) + rng.normal(0, 1.5))
        for _ in range(6):  # a few tries to land clear of the label and the edges
            centre = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h)
            if _overlaps(_text_box(centre, text, size, angle), keep_out, 10 * r):
                continue
            poly = stamp_text(img, text, family, size, centre, angle, ink, rng.uniform(0.7, 0.95))
            if poly is not None:
                words.append((text, poly))
                if item == "THIS SIDE UP":
                    off = np.array([np.sin(np.radians(angle)), -np.cos(np.radians(angle))]) * size * 1.6
                    _arrow(img, centre[0] + off[0], centre[1] + off[1], size * 1.5, angle, ink)
                break
    return words


def box_top(
    w_mm: float, d_mm: float, r: float, label_corners_mm: np.ndarray | None, rng: np.random.Generator
) -> Surface:
    """Cardboard top with a flap seam along the long side, usually taped over, and some printing."""
    w, h = max(8, round(w_mm * r)), max(8, round(d_mm * r))
    white = bool(rng.random() < 0.12)
    img = cardboard(h, w, r, rng, white=white)
    base = _mean_colour(img)
    along_x = w_mm >= d_mm
    mid = (h if along_x else w) // 2
    gap = max(1, round(rng.uniform(0.8, 2.5) * r))
    if along_x:
        img[: mid - gap] *= 1.025
        img[mid - gap : mid + gap] *= 0.45
    else:
        img[:, : mid - gap] *= 1.025
        img[:, mid - gap : mid + gap] *= 0.45
    keep_out = (
        label_corners_mm * r
        if label_corners_mm is not None
        else np.array([[-1e6, -1e6], [-1e6 + 1, -1e6 + 1]])
    )
    words = _print(img, r, keep_out, rng) if rng.random() < 0.75 else []
    tape = _tape(img, r, along_x, rng) if rng.random() < 0.85 else None
    if tape is not None and tape.kind == "white" and rng.random() < 0.7:
        family = fonts.pick(fonts.SANS, int(rng.integers(0, 99)))
        step = rng.uniform(110, 160) * r
        for k in range(int((w if along_x else h) / step) + 1):
            pos = (k + 0.5) * step
            centre = (pos, mid) if along_x else (mid, pos)
            if _overlaps(_text_box(centre, "FRAGILE", 20 * r, 0 if along_x else 90), keep_out, 5 * r):
                continue
            poly = stamp_text(img, "FRAGILE", family, 20 * r, centre, 0 if along_x else 90, INKS[2], 0.9)
            if poly is not None:
                words.append(("FRAGILE", poly))
    edge = max(1, round(1.5 * r))  # worn, darker edges
    for sl in (np.s_[:edge], np.s_[-edge:]):
        img[sl] *= 0.85
        img[:, sl] *= 0.85
    return Surface(_opaque(img), r, tape, words, base=base)


def mailer_top(
    w_mm: float, d_mm: float, r: float, label_corners_mm: np.ndarray | None, rng: np.random.Generator
) -> Surface:
    """Poly mailer front, sometimes with a brand print; edges soft so it sits naturally on the floor."""
    w, h = max(8, round(w_mm * r)), max(8, round(d_mm * r))
    img = mailer(h, w, r, rng)
    base = _mean_colour(img)
    keep_out = (
        label_corners_mm * r
        if label_corners_mm is not None
        else np.array([[-1e6, -1e6], [-1e6 + 1, -1e6 + 1]])
    )
    words: list[tuple[str, np.ndarray]] = []
    if rng.random() < 0.4:
        text = str(rng.choice((*BRANDS, "THANK YOU", "DO NOT BEND")))
        dark = float(img.mean()) < 0.35
        ink = (0.92, 0.92, 0.92) if dark else INKS[int(rng.integers(len(INKS)))]
        for _ in range(6):
            centre = (rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.85) * h)
            if _overlaps(_text_box(centre, text, 28 * r, 0.0), keep_out, 8 * r):
                continue
            if dark:  # light ink on dark film: lighten instead of multiply
                inv = 1.0 - img
                poly = stamp_text(
                    inv, text, fonts.pick(fonts.SANS, 3), 28 * r, centre, 0.0, (0.1, 0.1, 0.1), 0.8
                )
                img = 1.0 - inv
            else:
                poly = stamp_text(img, text, fonts.pick(fonts.SANS, 3), 28 * r, centre, 0.0, ink, 0.85)
            if poly is not None:
                words.append((text, poly))
                break
    rgba = _opaque(img)
    soft = cv2.GaussianBlur(np.pad(np.ones((h - 2, w - 2), np.float32), 1), (0, 0), max(0.7, 1.2 * r))
    rgba *= soft[..., None]
    return Surface(rgba, r, None, words, base=base)


def _mean_colour(img: Img) -> tuple[float, float, float]:
    m = img[::7, ::7].reshape(-1, 3).mean(0)
    return (float(m[0]), float(m[1]), float(m[2]))


def _opaque(img: Img) -> Img:
    return np.concatenate([np.clip(img, 0, 1.5), np.ones((*img.shape[:2], 1), np.float32)], axis=2)
