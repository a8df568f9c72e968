"""DB text detection: normalise + pad to shape buckets → one engine call per bucket → boxes per image.

Callers hand over images already at detection resolution (the ROI stage picks that resolution from the text
size, see roi.py) and get quads back in those images' own pixel coordinates; `detect_regions` maps them to
photo coordinates with each region's affine. Post-processing is plain numpy/cv2 so it can be tested on synthetic probability maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from podocr.config import DetConfig
from podocr.ocr.batching import bucket_batches, round_up
from podocr.ocr.geometry import apply_affine, rect_to_quad, sideways_turns

if TYPE_CHECKING:
    from podocr.ocr.region import Region
    from podocr.ocr.shapes import ShapePolicy
from podocr.ocr.runtime.engine import Engine

# Per-channel normalisation on BGR/255, in the order PaddleOCR feeds cv2 images to its models.
NORMS = {
    "imagenet": (np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)),
    "half": (np.array([0.5, 0.5, 0.5], np.float32), np.array([0.5, 0.5, 0.5], np.float32)),
}
MODEL_STRIDE = 32  # DB backbones downsample 32×: inputs must be multiples of this


def det_step(det: DetConfig) -> int:
    """Detection inputs are sized in multiples of this (the bucket step, at least the model stride)."""
    return max(MODEL_STRIDE, round_up(det.bucket_step, MODEL_STRIDE))


@dataclass(slots=True)
class DetBoxes:
    """Text boxes found in one image: quads (K, 4, 2) float32 TL,TR,BR,BL and their mean probabilities."""

    quads: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> DetBoxes:
        return cls(np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.quads)


def limit_scale(height: int, width: int, limit_side: int, limit_type: str, max_side: int) -> float:
    """Scale factor for the classic PaddleOCR rule: `max` → long side ≤ limit; `min` → short side ≥ limit."""
    if limit_type == "max":
        scale = min(1.0, limit_side / max(height, width))
    elif limit_type == "min":
        scale = max(1.0, limit_side / min(height, width))
    else:
        raise ValueError(f"det.limit_type must be 'max' or 'min', got {limit_type!r}")
    return min(scale, max_side / max(height, width))


def normalise(image: np.ndarray, norm: str, out: np.ndarray | None = None) -> np.ndarray:
    """BGR uint8 HxWx3 → float32 3xHxW with the model family's mean/std, written into `out` when given (a
    3xHxW float32 view, such as one image's place in a batch).

    Channel by channel straight into place, rather than a float copy of the whole HxWx3 image then a
    transposing copy: detector inputs are label crops of a megapixel or more. The float32 arithmetic is the
    same (x·(1/(255·std)), then − mean/std), so the device path's batches stay bit-identical.
    """
    mean, std = NORMS[norm]
    scale, offset = 1.0 / (255.0 * std), mean / std
    if out is None:
        out = np.empty((3, *image.shape[:2]), np.float32)
    for c in range(3):
        np.multiply(image[:, :, c], scale[c], out=out[c], casting="unsafe")
        out[c] -= offset[c]
    return out


def padded_shape(height: int, width: int, step: int) -> tuple[int, int]:
    s = max(MODEL_STRIDE, round_up(step, MODEL_STRIDE))
    return round_up(height, s), round_up(width, s)


class TextDetector:
    """Batched DB detector over images of any sizes."""

    def __init__(self, engine: Engine, cfg: DetConfig, norm: str, shapes: ShapePolicy | None = None) -> None:
        if norm not in NORMS:
            raise ValueError(f"unknown det normalisation {norm!r}; known: {', '.join(NORMS)}")
        self.engine, self.cfg, self.norm = engine, cfg, norm
        self.shapes = shapes  # the GPU profile's closed shape set; None = det.bucket_step buckets

    @property
    def grid(self) -> int:
        """Detection inputs are scaled to multiples of this (frames.region_image): the bucket step, or the
        engine's own input grid when that is coarser. OpenVINO pads detector inputs to its grid
        (`engine.openvino_det_step`), and a crop stretched onto the grid reads as well as a padded one while
        every pixel of the call is the label's."""
        step = det_step(self.cfg)
        engine_step = int(getattr(self.engine, "spatial_step", 1))
        return step if engine_step <= step else round_up(engine_step, step)

    def canvas(self, height: int, width: int) -> tuple[int, int]:
        """The padded input shape an image of this size runs at."""
        if self.shapes is not None:
            return self.shapes.det_canvas(height, width)
        return padded_shape(height, width, self.cfg.bucket_step)

    def detect(self, images: list[np.ndarray]) -> list[DetBoxes]:
        """Boxes for every image, in input order; images sharing a padded shape run as one batch."""
        shapes = [self.canvas(im.shape[0], im.shape[1]) for im in images]
        out: list[DetBoxes] = [DetBoxes.empty() for _ in images]
        for batch in bucket_batches(shapes, self.cfg.batch_size):
            ph, pw = shapes[batch[0]]
            rows = len(batch) if self.shapes is None else self.shapes.batch(len(batch), self.cfg.batch_size)
            x = np.zeros((rows, 3, ph, pw), np.float32)
            for j, i in enumerate(batch):
                h, w = images[i].shape[:2]
                filled = None if self.shapes is None else self.shapes.pad_det(images[i], ph, pw)
                if filled is None:
                    normalise(images[i], self.norm, out=x[j, :, :h, :w])
                else:
                    normalise(filled, self.norm, out=x[j])
            prob = self.engine.run(x)[:, 0]
            for j, i in enumerate(batch):
                h, w = images[i].shape[:2]
                out[i] = db_boxes(prob[j, :h, :w], self.cfg)
        return out


def detect_regions(detector: TextDetector, regions: list[Region]) -> None:
    """Detect lines in every region's detection input; quads are kept in photo px. Text that still runs
    vertically (a sideways label the probe missed) sets the region's extra turn to its upright frame."""
    found = detector.detect([r.image for r in regions])
    for r, boxes in zip(regions, found, strict=True):
        if len(boxes):
            r.quads = apply_affine(boxes.quads, r.to_photo)
            r.extra_turns = sideways_turns(boxes.quads)


def db_boxes(prob: np.ndarray, cfg: DetConfig) -> DetBoxes:
    """DB post-processing on one probability map: threshold → contours → scored, unclipped rotated boxes.

    Box score is the mean probability inside the contour's min-area rectangle ("fast" mode). Unclipping a
    rectangle by DB's distance d = area·ratio/perimeter and taking the min-area rectangle of the result is
    exactly the rectangle grown by d on every side, so it is computed in closed form (tests check it against
    pyclipper's polygon offset).
    """
    bitmap: np.ndarray = (prob > cfg.thresh).astype(np.uint8)
    if cfg.dilate:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    return bitmap_boxes(bitmap, prob, cfg)


def bitmap_boxes(bitmap: np.ndarray, prob: np.ndarray, cfg: DetConfig, prob_max: float = 1.0) -> DetBoxes:
    """DB boxes from the thresholded (and dilated) map and the map the boxes are scored on, whose full scale is
    `prob_max` (1.0 for probabilities; 255 for the device path's 8-bit copy of them)."""
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    h, w = prob.shape
    quads: list[np.ndarray] = []
    scores: list[float] = []
    for contour in contours[: cfg.max_candidates]:
        if len(contour) < 2:
            continue
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        rw, rh = rw + 1.0, rh + 1.0  # contour runs through pixel centres; the region extends ½ px further
        if min(rw, rh) < cfg.min_box_side:
            continue
        score = _rect_mean(prob, cv2.boxPoints(((cx, cy), (rw - 1.0, rh - 1.0), angle))) / prob_max
        if score < cfg.box_thresh:
            continue
        d = rw * rh * cfg.unclip_ratio / (2.0 * (rw + rh))
        ew, eh = rw + 2 * d, rh + 2 * d
        if min(ew, eh) < cfg.min_box_side + 2:
            continue
        quad = rect_to_quad((cx + 0.5, cy + 0.5), (ew, eh), angle)
        quad[:, 0] = np.clip(quad[:, 0], 0, w)
        quad[:, 1] = np.clip(quad[:, 1], 0, h)
        quads.append(quad)
        scores.append(score)
    if not quads:
        return DetBoxes.empty()
    return DetBoxes(np.stack(quads).astype(np.float32), np.asarray(scores, np.float32))


def _rect_mean(prob: np.ndarray, pts: np.ndarray) -> float:
    h, w = prob.shape
    x0 = int(np.clip(np.floor(pts[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(pts[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(pts - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])
