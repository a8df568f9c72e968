"""DB post-processing split at the device boundary: the per-pixel work on the device, the contours on the host.

A detector's probability map is float32 at the detection input's full size (megabytes per label). On the
device it is thresholded at `det.thresh`, dilated 2×2 like `cv2.dilate` with its default anchor (a pixel is
set when it or its left, upper or upper-left neighbour is), and quantised to 8 bits; only those two uint8 maps
cross to the host, where `det.bitmap_boxes` takes contours and scores boxes on the 8-bit map (within 1/510 of
the float score).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from podocr.config import DetConfig
from podocr.ocr.stages.det import DetBoxes, bitmap_boxes

PROB_MAX = 255.0


def threshold_maps(prob: torch.Tensor, cfg: DetConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W) probabilities → (bitmap, prob8), both (N, H, W) uint8, still on the device."""
    bitmap = (prob > cfg.thresh).to(torch.uint8)
    if cfg.dilate:
        padded = F.pad(bitmap[:, None].float(), (1, 0, 1, 0))
        bitmap = F.max_pool2d(padded, kernel_size=2, stride=1)[:, 0].to(torch.uint8)
    prob8 = (prob.clamp(0.0, 1.0) * PROB_MAX).round().to(torch.uint8)
    return bitmap, prob8


def host_boxes(bitmap: np.ndarray, prob8: np.ndarray, cfg: DetConfig) -> DetBoxes:
    """Boxes from one image's two maps, back on the host."""
    return bitmap_boxes(np.ascontiguousarray(bitmap), np.ascontiguousarray(prob8), cfg, PROB_MAX)


def db_boxes_batch(probs: list[torch.Tensor], cfg: DetConfig) -> list[DetBoxes]:
    """`det.db_boxes` for several (H, W) maps on the device: thresholded there, all maps back in one transfer,
    contours here."""
    parts = []
    for prob in probs:
        bitmap, prob8 = threshold_maps(prob[None], cfg)
        parts += [bitmap.reshape(-1), prob8.reshape(-1)]
    flat = torch.cat(parts).cpu().numpy()
    out, start = [], 0
    for prob in probs:
        h, w = int(prob.shape[0]), int(prob.shape[1])
        bitmap_h = flat[start : start + h * w].reshape(h, w)
        prob8_h = flat[start + h * w : start + 2 * h * w].reshape(h, w)
        out.append(host_boxes(bitmap_h, prob8_h, cfg))
        start += 2 * h * w
    return out


def db_boxes(prob: torch.Tensor, cfg: DetConfig) -> DetBoxes:
    """`det.db_boxes` for one (H, W) map on the device: threshold there, contours here."""
    return db_boxes_batch([prob], cfg)[0]
