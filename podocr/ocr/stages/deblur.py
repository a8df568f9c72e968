"""A second read for badly blurred labels: measure sharpness, undo a Gaussian blur (Wiener deconvolution).

Phone photos of labels are often out of focus. Past a blur of about a fifth of the text's x-height the PP-OCR
models read almost nothing, yet the text is still in the pixels: a Gaussian blur is undone well by a Wiener
filter when its width is known roughly. The width is taken relative to the label's small-line height (which
the ROI stage already estimates for the reading resolution), so no blur estimation is needed.

The pipeline uses this only for pages that are both blurry (`sharpness`) and read little, so sharp photos never
pay for it (the policy: reread.py; what it buys: docs/extraction.md).
"""

from __future__ import annotations

import cv2
import numpy as np


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


def wiener_deblur(image: np.ndarray, sigma: float, noise: float = 0.01) -> np.ndarray:
    """Undo a Gaussian blur of `sigma` px: F⁻¹(F(img)·H/(H²+noise)) per channel, H the Gaussian's transfer
    function. Edges are mirrored into the FFT padding, so the borders do not ring. uint8 in, uint8 out."""
    if sigma <= 0 or image.size == 0:
        return image.copy()
    h, w = image.shape[:2]
    pad = int(np.ceil(3 * sigma))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    ph, pw = cv2.getOptimalDFTSize(padded.shape[0]), cv2.getOptimalDFTSize(padded.shape[1])
    padded = cv2.copyMakeBorder(padded, 0, ph - padded.shape[0], 0, pw - padded.shape[1], cv2.BORDER_REFLECT)
    fy = np.fft.fftfreq(ph).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(pw).astype(np.float32)[None, :]
    otf = np.exp(-2.0 * np.pi**2 * sigma**2 * (fx**2 + fy**2))
    gain = otf / (otf**2 + noise)
    channels = padded[..., None] if padded.ndim == 2 else padded
    out = np.empty(channels.shape, np.float32)
    for c in range(channels.shape[2]):
        spectrum = np.fft.rfft2(channels[..., c].astype(np.float32))
        out[..., c] = np.fft.irfft2(spectrum * gain, s=(ph, pw))
    out = out[pad : pad + h, pad : pad + w]
    result = np.clip(out, 0, 255).astype(np.uint8)
    return result[..., 0] if image.ndim == 2 else result
