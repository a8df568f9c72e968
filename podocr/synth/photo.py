"""Photometry: what a phone and the daylight do to the scene (light, shadow, glare, blur, noise, JPEG).

Works on float32 BGR in [0, 1]; the order follows the physics: light falls on the scene, the lens and
hand blur it, the sensor adds noise, the phone sharpens, then JPEG compresses.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from podocr.synth.scene import Photometry

Img = np.ndarray


def lighting(img: Img, p: Photometry) -> None:
    """Smooth gradient across the frame plus vignetting, in place."""
    h, w = img.shape[:2]
    small_h, small_w = max(2, h // 16), max(2, w // 16)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    xs, ys = xs / (small_w - 1) - 0.5, ys / (small_h - 1) - 0.5
    a = math.radians(p.gradient_angle_deg)
    field = 1.0 + p.gradient * (xs * math.cos(a) + ys * math.sin(a)) * 1.4
    field *= 1.0 - p.vignette * (xs**2 + ys**2) * 2.0
    img *= cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]


def hard_shadow(img: Img, strength: float, rng: np.random.Generator) -> None:
    """A cast shadow (the photographer, a railing, a wall edge) entering from one side, in place."""
    h, w = img.shape[:2]
    mask = np.zeros((h // 4 + 1, w // 4 + 1), np.float32)
    sh, sw = mask.shape
    kind = rng.random()
    if kind < 0.5:  # a person-shaped blob from an edge
        cx, cy = rng.uniform(0, sw), rng.choice([0, sh]) if rng.random() < 0.5 else rng.uniform(0, sh)
        axes = (int(rng.uniform(0.15, 0.35) * sw), int(rng.uniform(0.3, 0.6) * sh))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    else:  # a straight edge: wall, door frame or railing
        ang = rng.uniform(0, 2 * math.pi)
        nx, ny = math.cos(ang), math.sin(ang)
        offset = rng.uniform(-0.3, 0.3) * (sw + sh) / 2
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        mask = (((xx - sw / 2) * nx + (yy - sh / 2) * ny) > offset).astype(np.float32)
        if rng.random() < 0.4:  # railing: stripes
            period = rng.uniform(0.06, 0.15) * max(sh, sw)
            stripes = (
                np.sin(((xx - sw / 2) * -ny + (yy - sh / 2) * nx) * 2 * math.pi / period) > 0.2
            ).astype(np.float32)
            mask *= stripes
    soft = rng.uniform(0.5, 3.0)
    mask = cv2.GaussianBlur(mask, (0, 0), soft)
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    tint = np.array([1.06, 1.0, 0.94], np.float32)  # skylight in the shade is bluer
    img *= 1.0 - mask * (1.0 - strength * tint)


def glare(
    img: Img, strength: float, centre: tuple[float, float], radius: float, rng: np.random.Generator
) -> None:
    """A specular highlight that washes towards white, in place."""
    h, w = img.shape[:2]
    scale = 8
    sh, sw = h // scale + 1, w // scale + 1
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    ang = rng.uniform(0, math.pi)
    u = (xx - centre[0] / scale) * math.cos(ang) + (yy - centre[1] / scale) * math.sin(ang)
    v = -(xx - centre[0] / scale) * math.sin(ang) + (yy - centre[1] / scale) * math.cos(ang)
    rad = radius / scale
    blob = np.exp(-((u / (rad * rng.uniform(1.0, 2.5))) ** 2 + (v / rad) ** 2))
    blob = cv2.resize(blob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[..., None] * strength
    img += (1.05 - img) * blob


def colour(img: Img, p: Photometry) -> None:
    img *= np.array(p.gains, np.float32) * p.exposure
    if p.low_light:  # phones lift the shadows of a dark scene
        np.clip(img, 0, None, out=img)
        np.power(img, 0.85, out=img)


def blur(img: Img, p: Photometry) -> Img:
    if p.blur_kind == "motion" and p.motion_px >= 1.5:
        length = math.ceil(p.motion_px) | 1
        kernel = np.zeros((length, length), np.float32)
        c = length // 2
        a = math.radians(p.motion_angle_deg)
        dx, dy = math.cos(a) * p.motion_px / 2, math.sin(a) * p.motion_px / 2
        cv2.line(
            kernel,
            (round(c * 16 - dx * 16), round(c * 16 - dy * 16)),
            (round(c * 16 + dx * 16), round(c * 16 + dy * 16)),
            1.0,
            1,
            cv2.LINE_AA,
            shift=4,
        )
        kernel /= max(float(kernel.sum()), 1e-6)
        return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    if p.blur_sigma >= 0.25:
        return cv2.GaussianBlur(img, (0, 0), p.blur_sigma, borderType=cv2.BORDER_REFLECT)
    return img


def sharpen(img: Img, amount: float) -> Img:
    if amount <= 0:
        return img
    soft = cv2.GaussianBlur(img, (0, 0), 1.2)
    return cv2.addWeighted(img, 1.0 + amount, soft, -amount, 0)


def sensor_noise(img: Img, sigma_levels: float, rng: np.random.Generator) -> None:
    """Shot-like luminance noise (stronger in brighter areas) plus coarser chroma noise, in place."""
    h, w = img.shape[:2]
    s = sigma_levels / 255.0
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    np.clip(grey, 0, 1, out=grey)
    if (
        h * w > 6_000_000
    ):  # 12 MP phones denoise and demosaic: their grain spans ~2 px, and this is 4× cheaper
        lum = cv2.resize(rng.standard_normal((h // 2 + 1, w // 2 + 1), dtype=np.float32), (w, h)) * 1.6
    else:
        lum = rng.standard_normal((h, w), dtype=np.float32)
    lum *= (0.6 * s) + (0.8 * s) * np.sqrt(grey)
    img += lum[..., None]
    chroma = rng.standard_normal((h // 4 + 1, w // 4 + 1, 3), dtype=np.float32) * (s * 0.8)
    img += cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)


def encode_jpeg(img: Img, quality: int) -> tuple[np.ndarray, bytes]:
    """8-bit BGR and its JPEG bytes (baseline, 4:2:0 like phone uploads)."""
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return out, buf.tobytes()
