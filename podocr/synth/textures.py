"""Procedural surfaces (floors, cardboard, poly mailers) in float32 BGR, drawn in plane millimetres.

Every generator takes the texture size in pixels and its resolution `r` (px per mm) so physical sizes
(plank widths, tile sizes, corrugation pitch) stay right whatever resolution the photo needs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from podocr.synth import fonts

Img = np.ndarray
FLOORS = ("wood", "concrete", "doormat", "porch", "tiles", "grass", "carpet")


def noise(h: int, w: int, cell_y: float, cell_x: float, rng: np.random.Generator) -> Img:
    """Smooth value noise, about N(0, 1), with features `cell_y` × `cell_x` pixels (anisotropic allowed).

    A random grid is enlarged bicubically to a quarter of the size, then bilinearly: smooth enough to look
    cubic, and far cheaper than one huge cubic resize.
    """
    cy, cx = max(cell_y, 1.0), max(cell_x, 1.0)
    gh, gw = max(2, math.ceil(h / cy) + 2), max(2, math.ceil(w / cx) + 2)
    grid: Img = rng.standard_normal((gh, gw), dtype=np.float32)
    full_h, full_w = round(gh * cy), round(gw * cx)
    mid_h, mid_w = max(gh, full_h // 4), max(gw, full_w // 4)
    if (mid_h, mid_w) != (gh, gw):
        grid = cv2.resize(grid, (mid_w, mid_h), interpolation=cv2.INTER_CUBIC)
    scale = float(grid.std()) or 1.0
    out = cv2.resize(grid, (full_w, full_h), interpolation=cv2.INTER_LINEAR)[:h, :w]
    if out.shape != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out * np.float32(1.0 / scale)


def fractal(
    h: int, w: int, cell: float, rng: np.random.Generator, octaves: int = 3, aniso: float = 1.0
) -> Img:
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(octaves):
        total += amp * noise(h, w, cell, cell * aniso, rng)
        norm += amp * amp
        amp *= 0.5
        cell /= 2.0
    return total / math.sqrt(norm)


def grain(h: int, w: int, rng: np.random.Generator, amount: float) -> Img:
    """Per-pixel speckle; drawn at half resolution when large, which is cheaper and looks the same."""
    if h * w > 1_500_000:
        small = rng.standard_normal(((h + 1) // 2, (w + 1) // 2), dtype=np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * amount
    return rng.standard_normal((h, w), dtype=np.float32) * amount


def colourise(value: Img, bgr: tuple[float, float, float]) -> Img:
    return value[..., None] * np.array(bgr, np.float32)


def _jitter(
    rng: np.random.Generator, bgr: tuple[float, float, float], amount: float
) -> tuple[float, float, float]:
    j = 1.0 + rng.normal(0, amount, 3)
    return (bgr[0] * j[0], bgr[1] * j[1], bgr[2] * j[2])


# ---- floors ---------------------------------------------------------------------------------------------------

WOODS = ((0.36, 0.55, 0.74), (0.2, 0.3, 0.43), (0.5, 0.53, 0.55), (0.24, 0.33, 0.55), (0.55, 0.7, 0.82))
PAINTS = ((0.5, 0.52, 0.52), (0.78, 0.8, 0.8), (0.48, 0.42, 0.35), (0.26, 0.32, 0.42), (0.33, 0.36, 0.38))


def boards(h: int, w: int, r: float, rng: np.random.Generator, painted: bool) -> Img:
    """Wood planks (or painted porch boards): rows of staggered boards, grain, dark seams."""
    board_w = rng.uniform(120, 150) * r if painted else rng.uniform(70, 190) * r
    board_l = rng.uniform(900, 2400) * r if painted else rng.uniform(500, 1600) * r
    base = _jitter(
        rng, PAINTS[int(rng.integers(len(PAINTS)))] if painted else WOODS[int(rng.integers(len(WOODS)))], 0.05
    )
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    row = np.floor(ys / board_w).astype(np.int32)
    n_rows = int(row.max()) + 2
    shift = rng.uniform(0, board_l, n_rows).astype(np.float32)
    along = xs + shift[row]
    pid = np.floor(along / board_l).astype(np.int32)
    tones = rng.normal(0, 0.05 if painted else 0.12, 4096).astype(np.float32)
    tone = tones[(row * 61 + pid * 7) % 4096]
    g = noise(h, w, 3 * r, 160 * r, rng) * (0.025 if painted else 0.055)
    g += noise(h, w, 0.7 * r, 40 * r, rng) * (0.012 if painted else 0.03)
    g += grain(h, w, rng, 0.02)
    value = 1.0 + tone + g
    if not painted:
        figure = np.sin((ys + 30 * r * noise(h, w, 40 * r, 200 * r, rng)) / (3.0 * r)) * 0.04
        value += figure
    value += noise(h, w, 300 * r, 300 * r, rng) * (0.08 if painted else 0.04)  # wear and dirt
    gap = rng.uniform(3, 6) * r if painted else rng.uniform(0.6, 1.6) * r
    seam = (ys % board_w < gap) | ((along % board_l) < gap * 0.8)
    value = np.where(seam, value * (0.35 if painted else 0.55), value)
    return colourise(value, base)


def concrete(h: int, w: int, r: float, rng: np.random.Generator) -> Img:
    grey = rng.uniform(0.45, 0.72)
    base = _jitter(rng, (grey * 0.98, grey, grey * 1.02), 0.03)
    value = 1.0 + fractal(h, w, 250 * r, rng, 3) * 0.06 + noise(h, w, 8 * r, 8 * r, rng) * 0.035
    value += grain(h, w, rng, 0.045)
    pits: Img = (rng.random((h // 2 + 1, w // 2 + 1)) < 0.0007).astype(np.float32)
    pits = cv2.resize(cv2.GaussianBlur(pits, (0, 0), max(0.6, 0.4 * r)), (w, h))
    value -= np.clip(pits * 1.5, 0, 0.2)
    if rng.random() < 0.4:  # expansion joint
        ang = rng.uniform(0, math.pi)
        d = np.abs(
            (np.arange(w)[None, :] - w * rng.uniform(0.2, 0.8)) * math.cos(ang)
            + (np.arange(h)[:, None] - h * rng.uniform(0.2, 0.8)) * math.sin(ang)
        )
        value = np.where(d < 4 * r, value * 0.6, value)
    if rng.random() < 0.35:  # stains
        stain = np.clip(noise(h, w, 150 * r, 150 * r, rng) - 1.2, 0, None)
        value -= stain * 0.15
    return colourise(value.astype(np.float32), base)


def tiles(h: int, w: int, r: float, rng: np.random.Generator) -> Img:
    size = rng.uniform(150, 600) * r
    grout = rng.uniform(2.5, 8) * r
    palette = (
        (0.72, 0.8, 0.86),
        (0.85, 0.86, 0.86),
        (0.55, 0.56, 0.57),
        (0.33, 0.42, 0.62),
        (0.28, 0.3, 0.32),
    )
    base = _jitter(rng, palette[int(rng.integers(len(palette)))], 0.04)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    row = np.floor(ys / size).astype(np.int32)
    offset = (row % 2) * size * 0.5 if rng.random() < 0.3 else 0.0
    col = np.floor((xs + offset) / size).astype(np.int32)
    tones = rng.normal(0, 0.035, 4096).astype(np.float32)
    value = (
        1.0
        + tones[(row * 131 + col * 17) % 4096]
        + noise(h, w, 60 * r, 60 * r, rng) * 0.03
        + grain(h, w, rng, 0.02)
    )
    if rng.random() < 0.3:  # stone-like mottling
        value += fractal(h, w, 40 * r, rng, 3) * 0.035
    joint = (ys % size < grout) | (((xs + offset) % size) < grout)
    grout_tone = float(rng.choice([0.55, 0.8, 1.15]))
    value = np.where(joint, grout_tone * (1.0 + grain(h, w, rng, 0.05)), value)
    return colourise(value.astype(np.float32), base)


def grass(h: int, w: int, r: float, rng: np.random.Generator) -> Img:
    """Lawn seen from above: thousands of short blades in a few shades over darker soil-and-shadow."""
    green = _jitter(rng, (0.12, 0.36, 0.26), 0.08)
    value = 0.45 + fractal(h, w, 200 * r, rng, 2) * 0.08 + noise(h, w, 4 * r, 4 * r, rng) * 0.08
    img = colourise(value.astype(np.float32), green)
    n = int(min(60_000, h * w / max(4.0, (5 * r) ** 2) * 0.9))
    blade_len = rng.uniform(25, 60) * r
    ang = rng.uniform(0, 2 * math.pi) + rng.normal(0, 0.7, n)
    x0 = rng.uniform(0, w, n)
    y0 = rng.uniform(0, h, n)
    length = blade_len * rng.uniform(0.4, 1.0, n)
    x1, y1 = x0 + np.cos(ang) * length, y0 + np.sin(ang) * length
    segs = np.round(np.stack([np.stack([x0, y0], 1), np.stack([x1, y1], 1)], 1) * 4).astype(np.int32)
    shade = rng.integers(0, 6, n)
    thick = max(1, round(1.5 * r))
    for k in range(6):  # one polylines call per shade keeps this fast
        tone = 0.55 + 0.11 * k
        col = (
            green[0] * tone,
            green[1] * tone * (1.0 + 0.04 * (k % 2)),
            green[2] * tone * (1.1 if k == 5 else 1.0),
        )
        cv2.polylines(img, list(segs[shade == k]), False, col, thick, cv2.LINE_AA, shift=2)
    dry = np.clip(noise(h, w, 150 * r, 150 * r, rng) * 0.5 - 0.25, 0, 0.5)[..., None]
    straw = (
        np.array((0.32, 0.52, 0.6), np.float32)
        * img.mean(axis=2, keepdims=True)
        / max(1e-3, float(np.mean(green)))
    )
    return img * (1 - dry) + straw * dry


def carpet(h: int, w: int, r: float, rng: np.random.Generator) -> Img:
    palette = ((0.55, 0.62, 0.66), (0.42, 0.42, 0.42), (0.45, 0.32, 0.25), (0.3, 0.4, 0.5))
    base = _jitter(rng, palette[int(rng.integers(len(palette)))], 0.05)
    value = (
        1.0
        + noise(h, w, 1.2 * r, 1.2 * r, rng) * 0.1
        + grain(h, w, rng, 0.08)
        + fractal(h, w, 250 * r, rng, 2) * 0.05
    )
    return colourise(value.astype(np.float32), base)


def stamp_text(
    img: Img,
    text: str,
    family: str,
    size_px: float,
    centre: tuple[float, float],
    angle_deg: float,
    ink: tuple[float, float, float],
    strength: float,
    bold: bool = True,
) -> np.ndarray | None:
    """Print `text` into `img` (multiplicative ink), rotated about `centre`; returns its 4 corners (px) or None."""
    from PIL import Image, ImageDraw

    font = fonts.load_font(family, bold, max(6, round(size_px)))
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    pad = 2
    tw, th = math.ceil(right - left) + 2 * pad, math.ceil(bottom - top) + 2 * pad
    canvas = Image.new("L", (tw, th), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, font=font, anchor="ls", fill=255)
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    rot = np.array([[cos, -sin], [sin, cos]])
    local = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float64) - (tw / 2, th / 2)
    corners = local @ rot.T + centre
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    if x0 < 0 or y0 < 0 or x1 > img.shape[1] or y1 > img.shape[0]:
        return None
    m = np.hstack([rot, (np.asarray(centre) - (x0, y0) - rot @ (tw / 2, th / 2))[:, None]])
    alpha = cv2.warpAffine(
        np.asarray(canvas, np.float32) / 255.0, m, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR
    )
    region = img[y0:y1, x0:x1]
    region *= 1.0 - alpha[..., None] * strength * (1.0 - np.array(ink, np.float32))
    text_box = np.array([[pad, pad], [tw - pad, pad], [tw - pad, th - pad], [pad, th - pad]], np.float64)
    return (text_box - (tw / 2, th / 2)) @ rot.T + centre


def doormat(
    h: int, w: int, r: float, rng: np.random.Generator, focus: tuple[float, float]
) -> tuple[Img, list[tuple[str, np.ndarray]]]:
    """A coir or rubber mat on concrete/boards, roughly under `focus` (px); returns the mat's printed words."""
    floor = concrete(h, w, r, rng) if rng.random() < 0.5 else boards(h, w, r, rng, painted=True)
    mw, mh = rng.uniform(700, 950) * r, rng.uniform(420, 600) * r
    cx = focus[0] + rng.uniform(-0.25, 0.25) * mw
    cy = focus[1] + rng.uniform(-0.25, 0.25) * mh
    ang = rng.normal(0, 6)
    cos, sin = math.cos(math.radians(ang)), math.sin(math.radians(ang))
    xs = np.arange(w, dtype=np.float32)[None, :] - cx
    ys = np.arange(h, dtype=np.float32)[:, None] - cy
    u, v = xs * cos + ys * sin, -xs * sin + ys * cos
    inside = (np.abs(u) < mw / 2) & (np.abs(v) < mh / 2)
    if rng.random() < 0.65:  # coir: coarse bristles, muted brown
        colour = _jitter(rng, (0.3, 0.44, 0.56), 0.05)
        value = 0.9 + 0.12 * noise(h, w, 0.8 * r, 2.5 * r, rng) + 0.1 * noise(h, w, 2.5 * r, 0.8 * r, rng)
        value += grain(h, w, rng, 0.1) + fractal(h, w, 120 * r, rng, 2) * 0.05
    else:  # rubber
        colour = _jitter(rng, (0.16, 0.16, 0.17), 0.05)
        cell = 25 * r
        holes = (
            (np.abs((u % cell) - cell / 2) < cell * 0.3) & (np.abs((v % cell) - cell / 2) < cell * 0.3)
        ).astype(np.float32)
        value = 1.0 - 0.35 * holes + grain(h, w, rng, 0.05)
    border = (np.abs(u) > mw / 2 - 30 * r) | (np.abs(v) > mh / 2 - 30 * r)
    value = np.where(border, value * 0.75, value)
    mat = colourise(value.astype(np.float32), colour)
    cut = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), max(0.8, 1.5 * r))[..., None]
    img = floor * (1 - cut) + mat * cut
    words: list[tuple[str, np.ndarray]] = []
    if rng.random() < 0.8:
        word = str(rng.choice(["WELCOME", "HELLO", "HOME", "WELCOME HOME", "HI"]))
        poly = stamp_text(
            img,
            word,
            fonts.pick(fonts.SANS, int(rng.integers(0, 99))),
            90 * r,
            (cx, cy),
            ang,
            (0.08, 0.08, 0.08),
            0.85,
        )
        if poly is not None:
            words.append((word, poly))
    return img, words


def floor(
    kind: str, h: int, w: int, r: float, rng: np.random.Generator, focus: tuple[float, float]
) -> tuple[Img, list[tuple[str, np.ndarray]]]:
    """The floor texture of `kind` (see FLOORS) and any words printed on it (with their corners in px)."""
    if kind == "doormat":
        return doormat(h, w, r, rng, focus)
    makers = {
        "wood": lambda: boards(h, w, r, rng, painted=False),
        "porch": lambda: boards(h, w, r, rng, painted=True),
        "concrete": lambda: concrete(h, w, r, rng),
        "tiles": lambda: tiles(h, w, r, rng),
        "grass": lambda: grass(h, w, r, rng),
        "carpet": lambda: carpet(h, w, r, rng),
    }
    return makers[kind](), []


# ---- parcel surfaces ------------------------------------------------------------------------------------------

KRAFT = (0.45, 0.6, 0.74)  # BGR of brown corrugated board in daylight


def cardboard(h: int, w: int, r: float, rng: np.random.Generator, white: bool) -> Img:
    """Corrugated board: kraft (or white-top) colour, blotches, fibres, faint flute lines."""
    base = _jitter(rng, (0.8, 0.82, 0.83) if white else KRAFT, 0.05)
    value = (
        1.0
        + fractal(h, w, 80 * r, rng, 3) * 0.03
        + noise(h, w, 2 * r, 3 * r, rng) * 0.012
        + grain(h, w, rng, 0.02)
    )
    pitch = rng.uniform(3.5, 8.0) * r
    ys = np.arange(h, dtype=np.float32)[:, None]
    value = value + 0.012 * np.sin(2 * math.pi * ys / pitch)
    return colourise(value.astype(np.float32), base)


MAILERS = (
    (0.9, 0.9, 0.9),
    (0.62, 0.63, 0.64),
    (0.2, 0.2, 0.22),
    (0.78, 0.7, 0.9),
    (0.85, 0.75, 0.62),
    (0.62, 0.78, 0.85),
)


def mailer(h: int, w: int, r: float, rng: np.random.Generator) -> Img:
    """Poly mailer film: flat colour, relief-shaded wrinkles with a plastic sheen, a sealed flap band."""
    base = _jitter(rng, MAILERS[int(rng.choice(len(MAILERS), p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.1]))], 0.03)
    height = noise(h, w, 40 * r, 120 * r, rng) * 1.0 + noise(h, w, 12 * r, 30 * r, rng) * 0.35
    height += noise(h, w, 5 * r, 5 * r, rng) * 0.08
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / max(r, 0.5)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / max(r, 0.5)
    a = rng.uniform(0, 2 * math.pi)
    relief = (gx * math.cos(a) + gy * math.sin(a)) * rng.uniform(0.6, 1.2)
    value = 1.0 + np.clip(relief, -0.25, 0.25) + grain(h, w, rng, 0.008)
    sheen = np.clip(relief - 0.08, 0, None) * 1.5
    band = round(rng.uniform(35, 55) * r)
    value[:band] *= 0.94
    value[band : band + max(1, round(1.2 * r))] *= 0.8
    return colourise(value.astype(np.float32), base) + sheen[..., None]
