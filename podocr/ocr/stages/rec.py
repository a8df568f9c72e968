"""CTC text recognition: bucket line crops by width, run big batches, greedy-decode.

Open-source PP-OCR pipelines pad every crop to ≥320 px and run 6 per call; we resize to the model height
keeping the ratio, pad only up to the next `rec.width_bucket`, and run `rec.batch_size` crops per call from
all photos of the batch at once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from podocr.config import RecConfig
from podocr.ocr.batching import bucket_batches, round_up
from podocr.ocr.registry import ModelError, ModelSet
from podocr.ocr.runtime.engine import Engine

if TYPE_CHECKING:
    from podocr.ocr.region import Region
    from podocr.ocr.shapes import ShapePolicy

BLANK = 0  # CTC blank is index 0 in every PP-OCR recogniser; the space is appended after the dictionary
UPSCALE = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def upscale_filter(name: str) -> int:
    """The OpenCV interpolation flag for `rec.upscale` (how crops smaller than the model height are enlarged)."""
    if name not in UPSCALE:
        raise ValueError(f"rec.upscale must be one of {', '.join(UPSCALE)}, not {name!r}")
    return UPSCALE[name]


def recognise_regions(
    recognizer: TextRecognizer | CascadeRecognizer, regions: list[Region]
) -> list[list[tuple[str, float]]]:
    """(text, confidence) per crop, per region: every line of every region in one recogniser call, with the
    reads orientation already made (`Region.quick_reads`) passed on so they are not made again."""
    flat = [c for r in regions for c in r.crops]
    known, start = {}, 0
    for r in regions:
        known.update({start + j: res for j, res in r.quick_reads.items()})
        start += len(r.crops)
    texts = recognizer.recognize(flat, known) if flat else []
    out, start = [], 0
    for r in regions:
        out.append(texts[start : start + len(r.crops)])
        start += len(r.crops)
    return out


def load_charset(models: ModelSet) -> list[str]:
    """Index → character for the rec model's output: blank, the dictionary, then space."""
    if models.dict_path is not None:
        chars = models.dict_path.read_text(encoding="utf-8").splitlines()
    else:
        chars = _metadata_characters(models.rec)
    return ["", *chars, " "]


def _metadata_characters(model_path: Path) -> list[str]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ModelError(
            f"{model_path}: no dictionary file in the set and no 'character' key in ONNX metadata"
        )
    return meta["character"].splitlines()


def resize_to_height(
    crop: np.ndarray, height: int, max_width: int, upscale: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Resize keeping the aspect ratio (longer lines are squeezed to max_width); area filter when shrinking,
    `upscale` when enlarging; a crop already at the size is returned as is."""
    h, w = crop.shape[:2]
    new_w = max(1, min(max_width, math.ceil(height * w / max(h, 1))))
    if (h, w) == (height, new_w):
        return crop
    interp = cv2.INTER_AREA if h > height else upscale
    return cv2.resize(crop, (new_w, height), interpolation=interp)


def ctc_greedy_decode(probs: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
    """Best path per row of (N, T, C) probabilities: collapse repeats, drop blanks; confidence = mean max prob
    of the kept characters (0.0 for an empty line)."""
    if probs.ndim != 3:
        raise ValueError(f"expected (N, T, C) probabilities, got shape {probs.shape}")
    idx = probs.argmax(axis=2)
    best = np.take_along_axis(probs, idx[..., None], axis=2)[..., 0]
    keep = idx != BLANK
    keep[:, 1:] &= idx[:, 1:] != idx[:, :-1]
    out: list[tuple[str, float]] = []
    for row_idx, row_p, row_keep in zip(idx, best, keep, strict=True):
        kept = row_idx[row_keep]
        text = "".join(charset[i] for i in kept)
        out.append((text, float(row_p[row_keep].mean()) if kept.size else 0.0))
    return out


class TextRecognizer:
    """Batched CTC recogniser over crops of any sizes (BGR uint8)."""

    def __init__(
        self,
        engine: Engine,
        cfg: RecConfig,
        charset: list[str],
        height: int,
        shapes: ShapePolicy | None = None,
    ) -> None:
        self.engine, self.cfg, self.charset, self.height = engine, cfg, charset, height
        self.shapes = shapes  # the GPU profile's closed shape set; None = rec.width_bucket buckets
        self.upscale = upscale_filter(cfg.upscale)

    @property
    def quick(self) -> TextRecognizer:
        """The cheapest recogniser available (itself): reads used as a signal, not as output."""
        return self

    def prepare(self, crop: np.ndarray) -> np.ndarray:
        return resize_to_height(crop, self.height, self.cfg.max_width, self.upscale)

    def recognize(
        self, crops: list[np.ndarray], known: dict[int, tuple[str, float]] | None = None
    ) -> list[tuple[str, float]]:
        """(text, confidence) per crop, in input order; crops in `known` (index → this recogniser's read of
        it, made earlier) are not read again."""
        if known:
            todo = [i for i in range(len(crops)) if i not in known]
            fresh = dict(zip(todo, self.recognize([crops[i] for i in todo]), strict=True))
            return [known[i] if i in known else fresh[i] for i in range(len(crops))]
        resized = [self.prepare(c) for c in crops]
        widths = [self.padded_width(r.shape[1]) for r in resized]
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch in bucket_batches(widths, self.cfg.batch_size):
            rows = len(batch) if self.shapes is None else self.shapes.batch(len(batch), self.cfg.batch_size)
            x = np.zeros((rows, 3, self.height, widths[batch[0]]), np.float32)
            for j, i in enumerate(batch):
                r = resized[i]
                x[j, :, :, : r.shape[1]] = r.transpose(2, 0, 1)
            x *= 2.0 / 255.0
            x -= 1.0
            # padding must read as the normalised zero PaddleOCR pads with, not as -1 (black)
            for j, i in enumerate(batch):
                x[j, :, :, resized[i].shape[1] :] = 0.0
            probs = self.engine.run(x)[: len(batch)]
            if probs.shape[-1] != len(self.charset):
                raise ModelError(
                    f"rec model outputs {probs.shape[-1]} classes but the dictionary gives {len(self.charset)}"
                )
            for i, res in zip(batch, ctc_greedy_decode(probs, self.charset), strict=True):
                out[i] = res
        return out

    def padded_width(self, width: int) -> int:
        if self.shapes is not None:
            return self.shapes.rec_width(width)
        return min(self.cfg.max_width, max(self.cfg.min_width, round_up(width, self.cfg.width_bucket)))


class CascadeRecognizer:
    """A fast recogniser reads every line; the strong one re-reads only the lines the first was unsure of.

    The small PP-OCR recognisers' confidence separates right from wrong reads well enough that re-reading the
    unsure lines with the bigger model buys nearly all of its accuracy at a fraction of its cost
    (docs/models.md).
    """

    def __init__(
        self,
        fast: TextRecognizer,
        strong: TextRecognizer,
        recheck_below: float,
        recheck_digits: int = 0,
        recheck_digits_below: float = 1.0,
        small_px: float = 0.0,
        recheck_small_below: float = 0.0,
        small_strong: bool = False,
    ) -> None:
        self.fast, self.strong = fast, strong
        self.recheck_below, self.recheck_digits = recheck_below, recheck_digits
        self.recheck_digits_below = recheck_digits_below
        self.small_px, self.recheck_small_below = small_px, recheck_small_below
        self.small_strong = small_strong  # a small line's strong re-read wins whatever the two confidences

    @property
    def quick(self) -> TextRecognizer:
        return self.fast

    def recheck(self, text: str, conf: float, height: float = float("inf")) -> bool:
        """Unsure lines, number-heavy lines (tracking numbers: a confident fast misread costs the most), and
        small print (a crop under `small_px` tall: the tiny model misreads it most) below its own threshold."""
        digits = sum(ch.isdigit() for ch in text)
        if conf < self.recheck_below:
            return True
        if height < self.small_px and conf < self.recheck_small_below:
            return True
        return 0 < self.recheck_digits <= digits and conf < self.recheck_digits_below

    def recognize(
        self, crops: list[np.ndarray], known: dict[int, tuple[str, float]] | None = None
    ) -> list[tuple[str, float]]:
        """`known` holds earlier reads by the fast (quick) recogniser; they are re-checked like fresh ones. A
        re-read replaces the first read when it is at least as confident, or, with `small_strong`, on small
        print, where the tiny model is often confidently wrong."""
        out = self.fast.recognize(crops, known)
        unsure = [i for i, (text, conf) in enumerate(out) if self.recheck(text, conf, crops[i].shape[0])]
        if unsure:
            for i, res in zip(unsure, self.strong.recognize([crops[i] for i in unsure]), strict=True):
                if res[1] >= out[i][1] or (self.small_strong and crops[i].shape[0] < self.small_px):
                    out[i] = res
        return out
