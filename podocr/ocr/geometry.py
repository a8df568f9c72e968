"""Quad and affine helpers shared by the stages (plain numpy, no models)."""

from __future__ import annotations

import cv2
import numpy as np

# A quad array is (K, 4, 2) float32: TL, TR, BR, BL in the text's own reading direction.


def rect_to_quad(center: tuple[float, float], size: tuple[float, float], angle: float) -> np.ndarray:
    """Corners of a rotated rectangle ordered TL, TR, BR, BL for text read along its long side.

    The reading direction is the long side when it is clearly longer (≥1.5×; a single tall glyph stays
    upright), otherwise the more horizontal side; it is made to point right (or down when vertical), so a line
    rotated 90° clockwise reads top→bottom and one rotated 180° is left for the line classifier to flip.
    """
    pts = cv2.boxPoints((center, size, angle)).astype(np.float32)
    a, b = pts[1] - pts[0], pts[2] - pts[1]
    la, lb = float(np.hypot(*a)), float(np.hypot(*b))
    if la >= 1.5 * lb:
        along = a
    elif lb >= 1.5 * la:
        along = b
    else:
        along = a if abs(a[0]) * lb >= abs(b[0]) * la else b  # the side whose direction is more horizontal
    ua = along / (np.hypot(*along) or 1.0)
    if (ua[0] < 0) if abs(ua[0]) >= 0.5 else (ua[1] < 0):  # within 60° of horizontal: point right; else down
        ua = -ua
    down = np.array([-ua[1], ua[0]], dtype=np.float32)  # perpendicular, pointing "down" in reading frame
    c = pts.mean(axis=0)
    half_len = max(abs(float(np.dot(p - c, ua))) for p in pts)
    half_h = max(abs(float(np.dot(p - c, down))) for p in pts)
    return np.array(
        [
            c - ua * half_len - down * half_h,
            c + ua * half_len - down * half_h,
            c + ua * half_len + down * half_h,
            c - ua * half_len + down * half_h,
        ],
        dtype=np.float32,
    )


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    """(length along reading direction, height) of one quad."""
    w = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    h = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    return float(w), float(h)


def apply_affine(quads: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Map points (..., 2) through a 2×3 affine matrix."""
    pts = np.asarray(quads, dtype=np.float32)
    return (pts @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)).astype(np.float32)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2×3 affine `outer ∘ inner` (apply inner first)."""
    a = np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]])
    return a[:2].astype(np.float64)


def rotate90_affine(k: int, width: int, height: int) -> np.ndarray:
    """Affine from coordinates in an image rotated k×90° clockwise back to the unrotated w×h image.

    Continuous coordinates (pixel edges at integers), so corners map to corners exactly.
    """
    k %= 4
    if k == 0:
        return np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float64)
    if k == 1:  # rotated (x', y') ← source: x = y', y = h - x'
        return np.array([[0, 1, 0], [-1, 0, height]], dtype=np.float64)
    if k == 2:
        return np.array([[-1, 0, width], [0, -1, height]], dtype=np.float64)
    return np.array([[0, -1, width], [1, 0, 0]], dtype=np.float64)


def rotate90(image: np.ndarray, k: int) -> np.ndarray:
    """Rotate an image k×90° clockwise (cv2.rotate, no interpolation)."""
    k %= 4
    if k == 0:
        return image
    codes = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(image, codes[k])


def reading_order(quads: np.ndarray) -> list[int]:
    """Indices of quads (in an upright frame) top→bottom, then left→right within a row.

    Lines whose vertical centres are within half the median line height of a row's first line share it.
    """
    n = len(quads)
    if n == 0:
        return []
    centers = quads.mean(axis=1)
    heights = np.array([quad_size(q)[1] for q in quads])
    tol = 0.5 * float(np.median(heights))
    order = sorted(range(n), key=lambda i: float(centers[i, 1]))
    rows: list[list[int]] = []
    row_y = 0.0
    for i in order:
        if rows and abs(float(centers[i, 1]) - row_y) <= tol:
            rows[-1].append(i)
        else:
            rows.append([i])
            row_y = float(centers[i, 1])
    return [i for row in rows for i in sorted(row, key=lambda j: float(centers[j, 0]))]


def runs_vertically(quads: np.ndarray) -> np.ndarray:
    """Per box: its reading direction (first edge) is closer to vertical than to horizontal."""
    d = quads[:, 1] - quads[:, 0]
    return np.abs(d[:, 1]) > np.abs(d[:, 0])


def sideways_turns(quads: np.ndarray) -> int:
    """3 (turn 90° counter-clockwise) when most text, weighted by length, runs vertically; else 0."""
    d = quads[:, 1] - quads[:, 0]  # reading direction vector of each box
    length = np.hypot(d[:, 0], d[:, 1])
    vertical = runs_vertically(quads)
    return 3 if length[vertical].sum() > length[~vertical].sum() else 0
