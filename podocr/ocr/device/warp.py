"""Text-line crops cut from the device image: batched perspective warps, one `grid_sample` per region.

`crop.crop_quad` warps each quad with `cv2.warpPerspective` (bilinear, border replicated) to a rectangle at the
line's own size, or enlarged to the recogniser height when smaller. Here the same homographies (destination
pixel → source pixel, solved as a batch of 8×8 systems) map every destination pixel of every line of a
region to the photo; all those points go into one flat sampling grid over the part of the photo the quads
cover, so a region's lines cost one gather on the device, whatever their sizes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from podocr.ocr.geometry import quad_size
from podocr.ocr.region import Region
from podocr.ocr.stages.rec import UPSCALE

GRID_MODES = {"linear": "bilinear", "cubic": "bicubic"}  # torch's bicubic uses OpenCV's a = −0.75


def crop_sizes(quads: np.ndarray, min_height: int = 0) -> tuple[list[tuple[int, int]], list[bool]]:
    """Each line's crop (width, height) and whether it is enlarged: `crop.crop_quad`'s sizing."""
    sizes, enlarged = [], []
    for quad in quads:
        w, h = quad_size(quad)
        scale = min_height / h if min_height and 0 < h < min_height else 1.0
        sizes.append((max(1, round(w * scale)), max(1, round(h * scale))))
        enlarged.append(scale > 1.0)
    return sizes, enlarged


def homographies(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """(K, 3, 3) float64 H with H·dst_k ∝ src_k for 4-point sets (K, 4, 2): `cv2.getPerspectiveTransform(dst,
    src)` for each k."""
    k = src.shape[0]
    x, y = dst[..., 0], dst[..., 1]
    u, v = src[..., 0], src[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -x * u, -y * u], dim=-1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -x * v, -y * v], dim=-1)
    a = torch.cat([rows_u, rows_v], dim=1)
    b = torch.cat([u, v], dim=1)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones((k, 1), dtype=h.dtype, device=h.device)], dim=1).reshape(k, 3, 3)


def crop_lines(
    photo: torch.Tensor, quads: np.ndarray, min_height: int = 0, upscale: str = "linear"
) -> list[torch.Tensor]:
    """Every quad (TL, TR, BR, BL; photo px) of one photo cut out as an h×w×3 uint8 tensor reading left → right.

    Lines are sampled bilinearly (enlarged ones with `upscale`, bilinear or bicubic), border pixels repeated.
    """
    if not len(quads):
        return []
    if upscale not in GRID_MODES and upscale in UPSCALE:
        upscale = "cubic"  # lanczos has no grid_sample mode; bicubic is the nearest
    device = photo.device
    sizes, enlarged = crop_sizes(quads, min_height)
    ph, pw = int(photo.shape[0]), int(photo.shape[1])
    x0 = max(0, math.floor(float(quads[..., 0].min())) - 2)
    y0 = max(0, math.floor(float(quads[..., 1].min())) - 2)
    x1 = min(pw, math.ceil(float(quads[..., 0].max())) + 2)
    y1 = min(ph, math.ceil(float(quads[..., 1].max())) + 2)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    patch = photo[y0:y1, x0:x1].permute(2, 0, 1)[None].float()
    # quads are in continuous coordinates (pixel edges at integers); sampling is at pixel indices: shift ½ px
    src = torch.from_numpy(quads.astype(np.float64) - 0.5).to(device) - torch.tensor(
        [x0, y0], dtype=torch.float64, device=device
    )
    dst = torch.tensor(
        [[[0, 0], [cw, 0], [cw, ch], [0, ch]] for cw, ch in sizes], dtype=torch.float64, device=device
    )
    hom = homographies(src, dst - 0.5)
    modes = [GRID_MODES.get(upscale, "bilinear") if e else "bilinear" for e in enlarged]
    out: list[torch.Tensor] = [photo] * len(quads)  # every slot is replaced below
    for mode in sorted(set(modes)):
        pick = [i for i, m in enumerate(modes) if m == mode]
        for i, piece in zip(pick, _sample(patch, hom[pick], [sizes[i] for i in pick], mode), strict=True):
            out[i] = piece
    return out


def _sample(
    patch: torch.Tensor, hom: torch.Tensor, sizes: list[tuple[int, int]], mode: str
) -> list[torch.Tensor]:
    """One grid_sample over `patch` (1, 3, H, W) for all lines' destination pixels; uint8 H×W×3 crops out."""
    device = patch.device
    counts = torch.tensor([cw * ch for cw, ch in sizes], device=device)
    widths = torch.tensor([cw for cw, _ in sizes], device=device)
    line = torch.repeat_interleave(torch.arange(len(sizes), device=device), counts)
    starts = torch.cumsum(counts, 0) - counts
    offset = torch.arange(int(counts.sum()), device=device) - starts[line]
    xs, ys = (offset % widths[line]).double(), torch.div(offset, widths[line], rounding_mode="floor").double()
    h = hom[line]
    den = h[:, 2, 0] * xs + h[:, 2, 1] * ys + h[:, 2, 2]
    sx = (h[:, 0, 0] * xs + h[:, 0, 1] * ys + h[:, 0, 2]) / den
    sy = (h[:, 1, 0] * xs + h[:, 1, 1] * ys + h[:, 1, 2]) / den
    height, width = int(patch.shape[2]), int(patch.shape[3])
    gx = 2.0 * sx / max(width - 1, 1) - 1.0
    gy = 2.0 * sy / max(height - 1, 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1).float()[None, None]
    values = F.grid_sample(patch, grid, mode=mode, padding_mode="border", align_corners=True)[0, :, 0]
    flat = values.round().clamp_(0, 255).to(torch.uint8)
    pieces = torch.split(flat, [cw * ch for cw, ch in sizes], dim=1)
    return [
        p.reshape(3, ch, cw).permute(1, 2, 0).contiguous() for p, (cw, ch) in zip(pieces, sizes, strict=True)
    ]


def crop_regions(
    photos: list[torch.Tensor], regions: list[Region], min_height: int = 0, upscale: str = "linear"
) -> None:
    """`crop.crop_regions` on the device: each region's `crops` become uint8 tensors cut from its photo."""
    for r in regions:
        r.crops = crop_lines(photos[r.page], r.quads, min_height, upscale)  # type: ignore[assignment]
