"""A second read for badly blurred labels: measure sharpness, undo a Gaussian blur (Wiener deconvolution).

Phone photos of labels are often out of focus. Past a blur of about a fifth of the text's x-height the PP-OCR
models read almost nothing, yet the text is still in the pixels: a Gaussian blur is undone well by a Wiener
filter when its width is known roughly. The width is taken relative to the label's small-line height (which
the ROI stage already estimates for the reading resolution), so no blur estimation is needed.

The pipeline uses this only for pages that are both blurry (`sharpness`) and read little, so sharp photos never
pay for it (the policy: reread.py; what it buys: docs/extraction.md).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

COARSE_SIGMA = 4.0  # a wider blur is undone on a copy shrunk by a whole factor, to about this many px


def sharpness(image: np.ndarray) -> float:
    """Strongest edges' second derivative relative to the image's contrast (scale-free, ≈ 1 for sharp print).

    The 99th percentile of |Laplacian| over the 1-99 % grey range (print covers a few % of a label's pixels):
    a Gaussian blur of width s lowers it roughly as 1/s², and dividing by the contrast keeps dim or washed-out
    photos comparable.
    """
    if image.size == 0:
        return 0.0
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    g = gray.astype(np.float32)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_32F))
    lo, hi = np.percentile(g, [1, 99])
    return float(np.percentile(lap, 99)) / (float(hi - lo) + 1.0)


def deblur(image: np.ndarray, sigma: float) -> np.ndarray:
    """`wiener_deblur`, on a copy shrunk by a whole factor when the blur is at least twice `COARSE_SIGMA` px wide,
    then enlarged back. A Gaussian blur of width s leaves almost nothing above 0.48/s cycles per pixel (its
    transfer function is under 1 % there) and the filter cannot lift what is gone, so a copy on which the blur
    still measures `COARSE_SIGMA` px or more holds all the filter restores, at a fraction of the work (which
    grows with the pixels): a label filling a phone photo is blurred by a dozen pixels or more when it reads
    badly, and its crop is the whole photo."""
    factor = int(sigma // COARSE_SIGMA)
    if factor < 2 or image.size == 0:
        return wiener_deblur(image, sigma)
    h, w = image.shape[:2]
    small = cv2.resize(image, (math.ceil(w / factor), math.ceil(h / factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(wiener_deblur(small, sigma / factor), (w, h), interpolation=cv2.INTER_CUBIC)


def wiener_deblur(image: np.ndarray, sigma: float, noise: float = 0.01) -> np.ndarray:
    """Undo a Gaussian blur of `sigma` px: F⁻¹(F(img)·H/(H²+noise)) per channel, H the Gaussian's transfer
    function. Edges are mirrored into the FFT padding, so the borders do not ring. uint8 in, uint8 out.

    The label crop is photo-sized, so each channel is transformed in place as one float32 plane in OpenCV's
    packed real-spectrum layout (`_packed_gain`) and written straight into the uint8 result: the transient
    memory is two float32 planes of the crop, not several complex copies of every channel.
    """
    if sigma <= 0 or image.size == 0:
        return image.copy()
    h, w = image.shape[:2]
    pad = int(np.ceil(3 * sigma))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    ph, pw = cv2.getOptimalDFTSize(padded.shape[0]), cv2.getOptimalDFTSize(padded.shape[1])
    padded = cv2.copyMakeBorder(padded, 0, ph - padded.shape[0], 0, pw - padded.shape[1], cv2.BORDER_REFLECT)
    gain = _packed_gain(ph, pw, sigma, noise)
    channels = padded[..., None] if padded.ndim == 2 else padded
    out = np.empty((h, w, channels.shape[2]), np.uint8)
    for c in range(channels.shape[2]):
        plane = channels[..., c].astype(np.float32)
        cv2.dft(plane, plane)
        plane *= gain
        cv2.idft(plane, plane, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        out[..., c] = np.clip(plane[pad : pad + h, pad : pad + w], 0, 255)
    return out[..., 0] if image.ndim == 2 else out


def _packed_gain(rows: int, cols: int, sigma: float, noise: float) -> np.ndarray:
    """The Wiener gain H/(H²+noise) laid out like OpenCV's packed spectrum (CCS) of a real rows×cols image.

    The gain is real, so it scales a frequency's real and imaginary parts alike: each slot of the packed
    layout gets the gain of the frequency it holds. Columns 1… hold frequency (col + 1) // 2 across, with
    every row's vertical frequency in FFT order; column 0, and the last column when `cols` is even (across
    frequency cols / 2), hold those columns' own real transforms down the rows: frequency (row + 1) // 2.
    The gain is even in both frequencies, so only their magnitudes matter. The Gaussian's transfer function
    is separable, so the 2-D one is the outer product of two 1-D ones: no exponential per frequency.
    """
    decay = np.float32(-2.0 * np.pi**2 * sigma**2)  # the transfer function is exp(decay · f²)

    def freq(k: np.ndarray, n: int) -> np.ndarray:
        return (np.minimum(k, n - k) / n).astype(np.float32)

    def wiener(otf: np.ndarray) -> np.ndarray:
        return otf / (otf * otf + np.float32(noise))

    r, c = np.arange(rows), np.arange(cols)
    fy, fx = freq(r, rows), freq((c + 1) // 2, cols)
    packed = wiener(np.outer(np.exp(decay * fy * fy), np.exp(decay * fx * fx)))
    down = freq((r + 1) // 2, rows)
    packed[:, 0] = wiener(np.exp(decay * (down * down)))
    if cols % 2 == 0:
        packed[:, -1] = wiener(np.exp(decay * (np.float32(0.25) + down * down)))
    return packed
