"""The OCR pipeline: a batch of decoded photos in, one PageResult per photo out.

plan → detect (→ zoom: labels found smaller than planned, detected again finer) → crop → orient → recognise →
assemble, each stage once over the whole batch (all photos' label crops in one detector pass, all their lines
in one recogniser pass); the stages live in `ocr/stages/`. A label that read little and is blurry is then read
once more from a deconvolved crop (stages/reread.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from podocr.config import PodocrConfig
from podocr.ocr.build import Components, build_components, describe, device_reader
from podocr.ocr.clock import StageClock, lines, per_page, pixels, text_width
from podocr.ocr.region import Region, first_region
from podocr.ocr.stages.assemble import assemble_pages
from podocr.ocr.stages.crop import crop_regions
from podocr.ocr.stages.det import detect_regions
from podocr.ocr.stages.orient import orient_regions
from podocr.ocr.stages.plan import plan_regions
from podocr.ocr.stages.rec import recognise_regions
from podocr.ocr.stages.reread import reread_blurred, wants_reread
from podocr.ocr.stages.zoom import adopt_zoomed, zoomed_regions
from podocr.types import PageResult


class OcrPipeline:
    """Batched PP-OCR over ONNX Runtime (or another engine backend). Build once per process, reuse."""

    def __init__(self, cfg: PodocrConfig, parts: Components) -> None:
        self.cfg, self.parts = cfg, parts
        self.models, self.detector, self.recognizer = parts.models, parts.detector, parts.recognizer
        self.classifier, self.probe_detector = parts.classifier, parts.probe_detector
        self.device = device_reader(cfg, parts)  # the device read path (engine.device_ops), or None

    @classmethod
    def from_config(cls, cfg: PodocrConfig, intra_op_threads: int | None = None) -> OcrPipeline:
        """Resolve and verify the model set(s), then create each engine once (threads: explicit > config)."""
        return cls(cfg, build_components(cfg, intra_op_threads))

    def info(self) -> dict[str, Any]:
        """What runs: model set, checksums, backend and the provider each engine actually uses."""
        info = describe(self.cfg, self.parts)
        if self.device is not None:
            info["device_ops"] = self.device.info()
        return info

    def run(self, images: list[np.ndarray]) -> list[PageResult]:
        """OCR a batch of BGR uint8 photos; one PageResult per input, in order. Raises on any failure.

        With `engine.batch_threads` = k > 1 the photos are read one per task on k threads: ONNX Runtime and
        OpenCV release the GIL, and k single-threaded model calls on k cores beat one call spread over k cores
        (these tensors are too small to split well). One photo per task rather than k fixed parts, because a
        photo's cost varies a lot (second looks, label size, line count) and fixed parts leave threads idle.
        """
        photos = [self._accept(img) for img in images]
        k = min(self.cfg.engine.batch_threads, len(photos))
        if k <= 1:
            return self._run_batch(photos)
        with ThreadPoolExecutor(k, thread_name_prefix="podocr-ocr") as pool:
            return [page for pages in pool.map(lambda p: self._run_batch([p]), photos) for page in pages]

    def run_safe(self, images: list[np.ndarray]) -> list[PageResult | Exception]:
        """Like `run`, but a photo that fails yields its exception in its slot instead of sinking the batch.

        The batch runs once; only if it raises is it re-run photo by photo to find the culprit(s).
        """
        out: list[PageResult | Exception] = []
        good: list[int] = []
        photos: list[np.ndarray] = []
        for i, img in enumerate(images):
            try:
                photos.append(self._accept(img))
                good.append(i)
                out.append(RuntimeError("not processed"))
            except (TypeError, ValueError) as exc:
                out.append(exc)
        try:
            for i, res in zip(good, self.run(photos), strict=True):
                out[i] = res
        except Exception:
            for i, photo in zip(good, photos, strict=True):
                try:
                    out[i] = self.run([photo])[0]
                except Exception as exc:
                    out[i] = exc
        return out

    def _run_batch(self, photos: list[np.ndarray]) -> list[PageResult]:
        """Read the batch, then read again the blurred labels that read little."""
        if not photos:
            return []
        pages, regions = self.read(photos)
        for i, page in enumerate(pages):
            main = first_region(regions, i)
            if main is None:
                continue
            device = self.device
            if device.wants_reread(page, main) if device else wants_reread(page, main, self.cfg.det):
                photo = device.host(photos[i]) if device else photos[i]
                pages[i] = reread_blurred(photo, page, main, self.cfg.det, lambda p: self.read([p])[0][0])
        if self.device is not None:
            self.device.finish_batch(len(photos))
        return pages

    def _accept(self, image: Any) -> Any:
        """`as_bgr` for numpy photos; with the device read path, H×W×3 uint8 device tensors as well."""
        if self.device is not None and not isinstance(image, np.ndarray):
            return self.device.accept(image)
        return as_bgr(image)

    def read(self, photos: list[np.ndarray]) -> tuple[list[PageResult], list[Region]]:
        """One pass of every stage over BGR photos: their pages, and the regions read (for the re-read)."""
        if self.device is not None:
            return self.device.read(photos)
        cfg, clock = self.cfg, StageClock(len(photos))
        regions = plan_regions(photos, self.probe_detector, cfg.roi, cfg.det, clock, self.detector.grid)
        with clock.stage("det", per_page(regions, pixels)):
            detect_regions(self.detector, regions)
        zoomed = zoomed_regions(photos, regions, cfg.det, self.detector.grid)
        if zoomed:
            with clock.stage("det", per_page(list(zoomed.values()), pixels)):
                detect_regions(self.detector, list(zoomed.values()))
                adopt_zoomed(regions, zoomed)
        with clock.stage("crop", per_page(regions, lines)):
            if cfg.rec.crop_to_height:
                quick = self.recognizer.quick
                crop_regions(photos, regions, quick.height, quick.upscale)
            else:
                crop_regions(photos, regions)
        if self.classifier is not None:
            voters = per_page(regions, lambda r: float(min(len(r.crops), cfg.cls.page_lines)))
            with clock.stage("cls", voters):
                orient_regions(regions, self.classifier, self.recognizer.quick, cfg.cls)
        with clock.stage("rec", per_page(regions, text_width)):
            texts = recognise_regions(self.recognizer, regions)
        return assemble_pages(photos, regions, texts, cfg.rec.drop_score, clock.timings), regions


def as_bgr(image: Any) -> np.ndarray:
    """Validate a decoded photo; grey and BGRA are converted, anything else is a ValueError/TypeError."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    return image
