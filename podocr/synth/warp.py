"""Geometry: a pinhole phone camera over the parcel plane, a gentle sine bend, and the mapping of points.

Pixels and ground-truth points go through the *same* functions: `Camera.homography` + `Bend` for
pixels via cv2.remap (image → texture), `map_points` for polygons (texture → image), so GT polygons
land exactly where the text is drawn in the final photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

FloatArray = np.ndarray


def rot2(deg: float) -> FloatArray:
    """2×2 rotation, clockwise on screen (image y points down)."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


@dataclass(slots=True)
class Camera:
    """Plane-local 3D point p (mm; x right, y down, z away from the camera) → pixels: K (M p + t) / z."""

    K: FloatArray
    M: FloatArray  # 3×3 rotation
    t: FloatArray  # 3-vector

    def project(self, pts: FloatArray) -> FloatArray:
        cam = np.asarray(pts, dtype=np.float64) @ self.M.T + self.t
        img = cam @ self.K.T
        return img[:, :2] / img[:, 2:3]

    def homography(self, z: float = 0.0) -> FloatArray:
        """Maps plane points (x, y) at depth z (0 = parcel top, box height = floor) to pixels."""
        cols = np.stack([self.M[:, 0], self.M[:, 1], self.M[:, 2] * z + self.t], axis=1)
        return self.K @ cols

    def faces_camera(self, center: FloatArray, normal: FloatArray) -> bool:
        return float((self.M @ normal) @ (self.M @ center + self.t)) < 0.0


def make_camera(
    focal_px: float,
    tilt_deg: float,
    tilt_axis_deg: float,
    spin_deg: float,
    target: FloatArray,
    distance_mm: float,
    principal: tuple[float, float] = (0.0, 0.0),
) -> Camera:
    """A camera `distance_mm` from plane point `target`, tilted, spun `spin_deg` clockwise about the normal."""
    axis = np.array([math.cos(math.radians(tilt_axis_deg)), math.sin(math.radians(tilt_axis_deg)), 0.0])
    r_tilt, _ = cv2.Rodrigues(axis * math.radians(tilt_deg))
    r_spin = np.eye(3)
    r_spin[:2, :2] = rot2(spin_deg)
    m = r_tilt @ r_spin
    t = np.array([0.0, 0.0, distance_mm]) - m @ np.array([target[0], target[1], 0.0])
    k = np.array([[focal_px, 0.0, principal[0]], [0.0, focal_px, principal[1]], [0.0, 0.0, 1.0]])
    return Camera(k, m, t)


def shift_principal(cam: Camera, dx: float, dy: float) -> Camera:
    k = cam.K.copy()
    k[0, 2] += dx
    k[1, 2] += dy
    return Camera(k, cam.M, cam.t)


def apply_h(h: FloatArray, pts: FloatArray) -> FloatArray:
    pts = np.asarray(pts, dtype=np.float64)
    hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ h.T
    return hom[:, :2] / hom[:, 2:3]


def local_scale(h: FloatArray, q: FloatArray, eps: float = 1.0) -> float:
    """Largest stretch (px per plane unit) of homography `h` around plane point q."""
    p = apply_h(h, np.array([q, q + np.array([eps, 0.0]), q + np.array([0.0, eps])]))
    jac = np.stack([p[1] - p[0], p[2] - p[0]], axis=1) / eps
    return float(np.linalg.svd(jac, compute_uv=False)[0])


def quad_area(quad: FloatArray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


@dataclass(frozen=True, slots=True)
class Bend:
    """Gentle sine warp of a surface (plane mm): texture point s = q + f(q) for plane point q.

    Bows in both directions (a bulging box top, a soft mailer). The slope stays below ~0.1, so the
    fixed-point inverse below converges in a few steps.
    """

    amp: float = 0.0
    wavelength: float = 400.0
    phase: tuple[float, float] = (0.0, 0.0)

    def offset(self, q: FloatArray) -> FloatArray:
        if self.amp == 0.0:
            return np.zeros_like(q)
        k = 2 * math.pi / self.wavelength
        dx = (self.amp * 0.6) * np.sin(k * q[..., 1] + self.phase[1])
        dy = self.amp * np.sin(k * q[..., 0] + self.phase[0])
        return np.stack([dx, dy], axis=-1).astype(q.dtype, copy=False)

    def shading(self, q: FloatArray) -> FloatArray | None:
        """Brightness from the surface's slope (a bent surface catches light unevenly); None when flat."""
        if self.amp == 0.0:
            return None
        k = 2 * math.pi / self.wavelength
        slope = self.amp * k * np.cos(k * q[..., 0] + self.phase[0])
        return (1.0 + 2.5 * slope).astype(np.float32)

    def to_texture(self, q: FloatArray) -> FloatArray:
        return q + self.offset(q)

    def to_plane(self, s: FloatArray, iters: int = 8) -> FloatArray:
        q = np.array(s, dtype=np.float64)
        for _ in range(iters):
            q = s - self.offset(q)
        return q


def plane_grid(h_inv: FloatArray, x0: int, y0: int, x1: int, y1: int) -> FloatArray:
    """Plane coordinates (float32, shape h×w×2) of every pixel centre in the image box [x0,x1)×[y0,y1)."""
    hi = h_inv.astype(np.float32)
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    inv_den = 1.0 / (hi[2, 0] * gx + hi[2, 1] * gy + hi[2, 2])
    px = (hi[0, 0] * gx + hi[0, 1] * gy + hi[0, 2]) * inv_den
    py = (hi[1, 0] * gx + hi[1, 1] * gy + hi[1, 2]) * inv_den
    return np.stack([px, py], axis=-1)


def bbox_of(points: FloatArray, width: int, height: int, pad: int = 2) -> tuple[int, int, int, int] | None:
    """Integer pixel box around `points`, clipped to the image; None when it is off-frame."""
    x0 = max(0, math.floor(points[:, 0].min()) - pad)
    y0 = max(0, math.floor(points[:, 1].min()) - pad)
    x1 = min(width, math.ceil(points[:, 0].max()) + pad)
    y1 = min(height, math.ceil(points[:, 1].max()) + pad)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def paste_surface(
    dst: FloatArray,
    texture: FloatArray,
    outline_px: FloatArray,
    h_plane: FloatArray,
    plane_to_tex: Callable[[FloatArray], FloatArray],
    shade: Callable[[FloatArray], FloatArray | None] | None = None,
) -> None:
    """Draw `texture` (float32, BGR premultiplied by the alpha in channel 3) onto `dst` (float32 BGR).

    Premultiplied colour keeps edges clean: bilinear samples that straddle the transparent border blend
    colour and alpha alike.

    `plane_to_tex` maps plane points (…×2, after the bend) to texture pixel coordinates; `outline_px` bounds
    the work to the image region the surface can cover.
    """
    box = bbox_of(outline_px, dst.shape[1], dst.shape[0])
    if box is None:
        return
    x0, y0, x1, y1 = box
    q = plane_grid(np.linalg.inv(h_plane), x0, y0, x1, y1)
    uv = plane_to_tex(q).astype(np.float32)
    warped = cv2.remap(
        texture,
        uv[..., 0],
        uv[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    colour = warped[..., :3]
    factor = shade(q) if shade is not None else None
    if factor is not None:
        colour *= factor[..., None]
    region = dst[y0:y1, x0:x1]
    region *= 1.0 - warped[..., 3:4]
    region += colour
