"""Resizing uint8 images on the device the way OpenCV does, so device and host inputs to the models agree.

`cv2.resize` is separable: each output pixel is a weighted sum of a few input pixels along each axis. The
weights are computed here on the host for the sizes at hand (cheap, per axis) and applied on the device as a
gather and a weighted sum per axis, which costs O(taps) per output pixel instead of a dense matrix product.
INTER_AREA shrinking averages the exact fractional overlap of each output pixel with its inputs (in float, as
OpenCV); INTER_LINEAR samples at pixel centres with clamped borders, and INTER_AREA with an axis that grows uses
OpenCV's area-upsampling weights: both in OpenCV's own 8-bit fixed-point arithmetic, because its rounding
(11-bit weights, truncating products) shifts about one pixel in eight by a grey level against exact float
weights. What is left differs by one level on a few pixels in ten thousand.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

LINEAR, AREA = "linear", "area"


COEF_SCALE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE: 8-bit linear weights are 11-bit fixed point


def _clamped(sx: np.ndarray, fx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's border rule for 2-tap weights: before the first pixel or past the last, take that pixel."""
    low = sx < 0
    fx[low], sx[low] = 0.0, 0.0
    high = sx >= n - 1
    fx[high], sx[high] = 0.0, n - 1
    return np.stack([sx, np.minimum(sx + 1, n - 1)], axis=1).astype(np.int64), fx


def _linear_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2 INTER_LINEAR along one axis of n → m pixels: 2 taps per output pixel, positions in float32."""
    fx = ((np.arange(m) + 0.5) * (1.0 / (m / n)) - 0.5).astype(np.float32)  # OpenCV: scale = 1 / (m / n)
    sx = np.floor(fx)
    idx, fx = _clamped(sx, (fx - sx).astype(np.float32), n)
    return idx, np.stack([np.float32(1.0) - fx, fx], axis=1)


def _area_up_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2 INTER_AREA when not both axes shrink: OpenCV's area-upsampling coefficients, 2 taps."""
    dx = np.arange(m)
    sx = np.floor(dx * (1.0 / (m / n)))
    fx = ((dx + 1) - (sx + 1) * (m / n)).astype(np.float32)
    fx = np.where(fx <= 0, np.float32(0.0), fx - np.floor(fx)).astype(np.float32)
    idx, fx = _clamped(sx, fx, n)
    return idx, np.stack([np.float32(1.0) - fx, fx], axis=1)


def _area_down_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2 INTER_AREA shrinking n → m: each output pixel averages the input pixels it covers, by overlap."""
    scale = 1.0 / (m / n)
    taps = math.ceil(scale) + 1
    start = np.arange(m) * scale
    first = np.floor(start).astype(np.int64)
    idx = first[:, None] + np.arange(taps)[None, :]
    lo = np.maximum(idx, start[:, None])
    hi = np.minimum(idx + 1, start[:, None] + scale)
    w = np.clip(hi - lo, 0.0, None) / scale
    return np.minimum(idx, n - 1), w


def _gather(x: torch.Tensor, axis: int, idx: np.ndarray) -> torch.Tensor:
    """x's slices along `axis` at idx (m, taps), the axis split into (m, taps)."""
    m, taps = idx.shape
    g = x.index_select(axis, torch.from_numpy(idx.reshape(-1)).to(x.device))
    shape = list(g.shape)
    shape[axis : axis + 1] = [m, taps]
    return g.reshape(shape)


def _weights(w: np.ndarray, axis: int, ndim: int, like: torch.Tensor) -> torch.Tensor:
    shape = [1] * ndim
    shape[axis], shape[axis + 1] = w.shape
    return torch.from_numpy(w).to(like.device, like.dtype).reshape(shape)


def _area_down(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """cv2 INTER_AREA, both axes shrinking: overlap-weighted means in float32, along rows first as OpenCV, then
    rounded once (ties to even). At scales whose means land on exact halves (2.5×) OpenCV rounds those up, so a
    share of pixels differ by one level there."""
    (width, height), (h, w) = size, (int(image.shape[0]), int(image.shape[1]))
    x = image.float()
    for axis, n, m in ((1, w, width), (0, h, height)):
        if n != m:
            idx, wt = _area_down_taps(n, m)
            x = (_gather(x, axis, idx) * _weights(wt.astype(np.float32), axis, x.dim() + 1, x)).sum(
                dim=axis + 1
            )
    return to_uint8(x)


def _area_fast(image: torch.Tensor, sx: int, sy: int) -> torch.Tensor:
    """cv2 INTER_AREA at whole-number scales (its fast path): integer block sums, rounded half up for 2×2 (its SIMD
    code) and otherwise scaled by the float 1/area and rounded to even."""
    h, w, c = (int(d) for d in image.shape)
    blocks = image.to(torch.int32).reshape(h // sy, sy, w // sx, sx, c).sum(dim=(1, 3))
    if (sx, sy) == (2, 2):
        return ((blocks + 2) >> 2).to(torch.uint8)
    return to_uint8(blocks.float() * float(np.float32(1.0) / np.float32(sx * sy)))


def _two_tap(image: torch.Tensor, size: tuple[int, int], taps: Any) -> torch.Tensor:
    """OpenCV's 8-bit 2-tap resampling in its fixed-point arithmetic: rows first with 11-bit weights, then
    columns as its SIMD code does them (each product scaled down by 2^16 before the sum, then rounded by 2^2)."""
    (width, height), (h, w) = size, (int(image.shape[0]), int(image.shape[1]))
    ix, fx = taps(w, width)
    iy, fy = taps(h, height)
    ax = np.round(fx * np.float32(COEF_SCALE)).astype(np.int32)
    ay = np.round(fy * np.float32(COEF_SCALE)).astype(np.int32)
    x = image.to(torch.int32)
    buf = (_gather(x, 1, ix) * _weights(ax, 1, 4, x)).sum(dim=2)  # h × width × C, scaled by 2^11
    rows = _gather(buf, 0, iy)  # height × 2 × width × C
    beta = torch.from_numpy(ay).to(x.device)[:, :, None, None]
    v = torch.div((rows >> 4) * beta, 1 << 16, rounding_mode="floor").sum(dim=1)
    return ((v + 2) >> 2).clamp_(0, 255).to(torch.uint8)


def resize(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """`cv2.resize(image, size, interpolation)` for an H×W×C uint8 tensor; `size` is (width, height)."""
    h, w = int(image.shape[0]), int(image.shape[1])
    width, height = size
    if (w, h) == (width, height):
        return image
    if mode not in (LINEAR, AREA):
        raise ValueError(f"resize mode must be {LINEAR!r} or {AREA!r}, not {mode!r}")
    if mode == LINEAR and (w, h) == (2 * width, 2 * height):
        mode = AREA  # OpenCV takes an exact 2× linear shrink as an area mean
    if mode == AREA and w % width == 0 and h % height == 0:
        return _area_fast(image, w // width, h // height)
    if mode == AREA and w >= width and h >= height:
        return _area_down(image, size)
    return _two_tap(image, size, _linear_taps if mode == LINEAR else _area_up_taps)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest (ties to even, as OpenCV's saturate_cast) and clamp into 0…255."""
    return x.round().clamp_(0, 255).to(torch.uint8)


def rotate90(image: torch.Tensor, k: int) -> torch.Tensor:
    """An H×W×C tensor turned k×90° clockwise, like `geometry.rotate90` (no interpolation)."""
    k %= 4
    return image if k == 0 else torch.rot90(image, -k, dims=(0, 1)).contiguous()


def probe_image(photo: torch.Tensor, scale: float) -> torch.Tensor:
    """`plan.probe_image` on the device: a strided view, area-averaged to the probe's size."""
    step = int(0.5 / scale) if scale < 0.5 else 1
    view = photo[::step, ::step] if step > 1 else photo
    h, w = int(photo.shape[0]), int(photo.shape[1])
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (int(view.shape[1]), int(view.shape[0])):
        return view.contiguous()
    return resize(view, size, AREA)
