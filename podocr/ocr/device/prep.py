"""Model inputs built on the device: normalisation and padding exactly as the host stages build them.

The detector batch (det.py's `TextDetector.detect`): each image normalised with its family's mean/std and
placed top-left on its canvas, the canvas filled with the normalised zero, or, with the GPU profile's
`engine.gpu_det_pad`, with the image itself mirrored (OpenCV's BORDER_REFLECT_101) or its border repeated. The
recogniser and classifier batches (rec.py, cls.py): crops already at the model height, scaled to −1…1, padded
right with the normalised zero. The fills are index maps, so a canvas larger than twice the image (which
torch's own reflect padding refuses) mirrors the way OpenCV does.
"""

from __future__ import annotations

import numpy as np
import torch

from podocr.ocr.stages.det import NORMS


def normalise(image: torch.Tensor, norm: str) -> torch.Tensor:
    """H×W×3 uint8 → 3×H×W float32 with the model family's mean/std (bit-for-bit the host's arithmetic)."""
    mean, std = NORMS[norm]
    scale = torch.from_numpy(np.float32(1.0) / (np.float32(255.0) * std)).to(image.device)
    shift = torch.from_numpy(mean / std).to(image.device)
    return (image.float() * scale - shift).permute(2, 0, 1)


def _border_index(n: int, size: int, mode: str) -> torch.Tensor:
    """Source index for each of `size` positions along an axis of n pixels, beyond n filled by `mode`."""
    i = np.arange(size)
    if mode == "edge" or n == 1:
        return torch.from_numpy(np.minimum(i, n - 1))
    period = 2 * n - 2  # reflect-101: 0 1 … n-1 n-2 … 1 0 1 …
    j = i % period
    return torch.from_numpy(np.where(j >= n, period - j, j))


def fill_canvas(image: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """`cv2.copyMakeBorder(image, 0, height - h, 0, width - w, BORDER_REFLECT_101 | BORDER_REPLICATE)`."""
    h, w = int(image.shape[0]), int(image.shape[1])
    rows = _border_index(h, height, mode).to(image.device)
    cols = _border_index(w, width, mode).to(image.device)
    return image.index_select(0, rows).index_select(1, cols)


def det_batch(
    images: list[torch.Tensor], rows: int, canvas: tuple[int, int], norm: str, fill: str | None
) -> torch.Tensor:
    """(rows, 3, H, W) float32: the images on their canvas; rows past the images stay zero."""
    ph, pw = canvas
    device = images[0].device
    x = torch.zeros((rows, 3, ph, pw), dtype=torch.float32, device=device)
    for j, image in enumerate(images):
        if fill is None:
            h, w = int(image.shape[0]), int(image.shape[1])
            x[j, :, :h, :w] = normalise(image, norm)
        else:
            x[j] = normalise(fill_canvas(image, ph, pw, fill), norm)
    return x


def line_batch(lines: list[torch.Tensor], rows: int, height: int, width: int) -> torch.Tensor:
    """(rows, 3, height, width) float32 for the recogniser or classifier: each H×w×3 uint8 line at −1…1,
    the rest the normalised zero."""
    x = torch.zeros((rows, 3, height, width), dtype=torch.float32, device=lines[0].device)
    for j, line in enumerate(lines):
        w = int(line.shape[1])
        x[j, :, :, :w] = line.permute(2, 0, 1).float() * (2.0 / 255.0) - 1.0
    return x
