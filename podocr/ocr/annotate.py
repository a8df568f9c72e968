"""Draw a PageResult over its photo: quads, reading order and text (for eyeballing results)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from podocr.types import PageResult


def annotate(image: np.ndarray, page: PageResult) -> np.ndarray:
    """A BGR copy of `image` with the ROI (blue), each line's quad (green, TL corner red) and its text."""
    out = image.copy()
    scale = max(out.shape[:2]) / 1500
    thick = max(1, round(2 * scale))
    if page.roi is not None:
        x0, y0, x1, y1 = page.roi
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 128, 0), thick)
    for line in page.lines:
        pts = np.round(np.array(line.quad)).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 200, 0), thick)
        cv2.circle(out, tuple(int(v) for v in pts[0]), 2 * thick, (0, 0, 255), -1)
    pil = Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    font = ImageFont.load_default(size=max(12, round(18 * scale)))
    for i, line in enumerate(page.lines):
        x, y = line.quad[0]
        label = f"{i + 1}: {line.text} ({line.confidence:.2f})"
        box = draw.textbbox((x, y), label, font=font, anchor="lb")
        draw.rectangle(box, fill=(255, 255, 255))
        draw.text((x, y), label, font=font, fill=(200, 0, 0), anchor="lb")
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
