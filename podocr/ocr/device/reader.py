"""The pipeline's read (`OcrPipeline.read`) with the pixel work on the device.

Same stages, same decisions, same order as the host read: probe → plan → detect (→ zoom) → crop → orient →
recognise → assemble. The photos are uploaded once (or arrive decoded on the device); the probe, the detection
inputs and every line crop are cut and resized there; the host receives the probe image (the label choice
looks at its colours), the thresholded detector maps (contours), the classifier's two probabilities per line
and the recogniser's kept indices. Regions carry device tensors where the host read keeps numpy images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from podocr.config import PodocrConfig
from podocr.ocr.build import Components
from podocr.ocr.clock import StageClock, lines, per_page, pixels, text_width
from podocr.ocr.device import resize, warp
from podocr.ocr.device.profile import DeviceProfile
from podocr.ocr.device.stages import (
    DeviceLineClassifier,
    DeviceTextDetector,
    device_recognizer,
)
from podocr.ocr.frames import region_geometry
from podocr.ocr.region import Region
from podocr.ocr.stages.assemble import assemble_pages
from podocr.ocr.stages.deblur import sharpness
from podocr.ocr.stages.det import det_step, detect_regions
from podocr.ocr.stages.orient import orient_regions
from podocr.ocr.stages.plan import probe, probe_scale
from podocr.ocr.stages.rec import recognise_regions
from podocr.ocr.stages.reread import may_reread
from podocr.ocr.stages.roi import ReadPlan, plan_reads, whole_photo_plan
from podocr.ocr.stages.zoom import adopt_zoomed, zoom_plan
from podocr.types import PageResult

Photo = Any  # an H×W×3 BGR uint8 numpy array or device tensor


def to_device(photo: Photo, device: torch.device) -> torch.Tensor:
    """A photo on the device (numpy BGR uint8 H×W×3 is copied there, pinned when the device is a GPU)."""
    if isinstance(photo, torch.Tensor):
        return photo.to(device)
    t = torch.from_numpy(np.ascontiguousarray(photo))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


def to_host(image: Photo) -> np.ndarray:
    """A numpy copy of a device image (numpy images pass through)."""
    return image.cpu().numpy() if isinstance(image, torch.Tensor) else image


def region_image(photo: torch.Tensor, plan: ReadPlan, step: int) -> tuple[torch.Tensor, np.ndarray]:
    """`frames.region_image` on the device: crop → scale (area or linear, as the host) → turn."""
    x0, y0, x1, y1 = plan.box
    (sw, sh), shrink, to_photo = region_geometry(plan, step)
    scaled = resize.resize(photo[y0:y1, x0:x1], (sw, sh), resize.AREA if shrink else resize.LINEAR)
    return resize.rotate90(scaled, plan.quarter_turns), to_photo


class DeviceReader:
    """One pass of every stage over a batch, pixel work on `device`; built once per pipeline."""

    def __init__(self, cfg: PodocrConfig, parts: Components, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.profile = DeviceProfile(device)
        self.probe_detector = DeviceTextDetector(parts.probe_detector, self.profile, "probe_det")
        self.detector = (
            self.probe_detector
            if parts.detector is parts.probe_detector
            else DeviceTextDetector(parts.detector, self.profile, "det")
        )
        self.recognizer = device_recognizer(parts.recognizer, self.profile)
        self.classifier = (
            None if parts.classifier is None else DeviceLineClassifier(parts.classifier, self.profile)
        )

    def read(self, photos: list[Photo]) -> tuple[list[PageResult], list[Region]]:
        """`OcrPipeline.read` on the device: the pages, and the regions read (their images on the device)."""
        with torch.inference_mode():
            return self._read(photos)

    def _read(self, photos: list[Photo]) -> tuple[list[PageResult], list[Region]]:
        cfg, clock = self.cfg, StageClock(len(photos))
        with self.profile.stage("upload"):
            dev = [to_device(p, self.device) for p in photos]
        regions = self._plan(dev, clock)
        with clock.stage("det", per_page(regions, pixels)):
            detect_regions(self.detector, regions)
        zoomed = self._zoomed(dev, regions)
        if zoomed:
            with clock.stage("det", per_page(list(zoomed.values()), pixels)):
                detect_regions(self.detector, list(zoomed.values()))
                adopt_zoomed(regions, zoomed)
        with clock.stage("crop", per_page(regions, lines)), self.profile.stage("crop"):
            if cfg.rec.crop_to_height:
                warp.crop_regions(dev, regions, self.recognizer.quick.height, cfg.rec.upscale)
            else:
                warp.crop_regions(dev, regions)
        if self.classifier is not None:
            voters = per_page(regions, lambda r: float(min(len(r.crops), cfg.cls.page_lines)))
            with clock.stage("cls", voters):
                orient_regions(regions, self.classifier, self.recognizer.quick, cfg.cls, resize.rotate90)
        with clock.stage("rec", per_page(regions, text_width)):
            texts = recognise_regions(self.recognizer, regions)
        with self.profile.stage("assemble"):
            pages = assemble_pages(dev, regions, texts, cfg.rec.drop_score, clock.timings)  # type: ignore[arg-type]
        return pages, regions

    def _plan(self, dev: list[torch.Tensor], clock: StageClock) -> list[Region]:
        """`plan.plan_regions` with the probe and the detection inputs cut on the device."""
        roi, det = self.cfg.roi, self.cfg.det
        sizes = [(int(p.shape[0]), int(p.shape[1])) for p in dev]
        if roi.enabled:
            with clock.stage("roi", {i: float(h * w) for i, (h, w) in enumerate(sizes)}):
                scales = [probe_scale(h, w, roi.probe_side) for h, w in sizes]
                with self.profile.stage("probe.resize"):
                    probes = [resize.probe_image(p, s) for p, s in zip(dev, scales, strict=True)]
            with clock.stage("roi", {i: float(p.shape[0] * p.shape[1]) for i, p in enumerate(probes)}):
                found = probe(self.probe_detector, probes, resize.rotate90)
                with self.profile.stage("plan"):
                    plans = [
                        plan_reads(to_host(pr), b, s, h, w, roi, det)
                        for pr, b, s, (h, w) in zip(probes, found, scales, sizes, strict=True)
                    ]
        else:
            plans = [[whole_photo_plan(h, w, det)] for h, w in sizes]
        regions = []
        work = {i: float(sum(pl.scale**2 for pl in ps)) for i, ps in enumerate(plans)}
        with clock.stage("roi", work), self.profile.stage("region.resize"):
            for page, (photo, page_plans) in enumerate(zip(dev, plans, strict=True)):
                for plan in page_plans:
                    image, to_photo = region_image(photo, plan, det_step(det))
                    regions.append(Region(page, plan, image, to_photo))  # type: ignore[arg-type]
        return regions

    def _zoomed(self, dev: list[torch.Tensor], regions: list[Region]) -> dict[int, Region]:
        """`zoom.zoomed_regions` with the finer detection inputs cut on the device."""
        out = {}
        for k, r in enumerate(regions):
            plan = zoom_plan(r, tuple(int(s) for s in dev[r.page].shape[:2]), self.cfg.det)
            if plan is not None:
                with self.profile.stage("region.resize"):
                    image, to_photo = region_image(dev[r.page], plan, det_step(self.cfg.det))
                out[k] = Region(r.page, plan, image, to_photo)  # type: ignore[arg-type]
        return out

    def accept(self, image: Any) -> torch.Tensor:
        """A photo handed over already on a device (decoded there): H×W×3 uint8, else a TypeError/ValueError
        like `pipeline.as_bgr`'s."""
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"expected a numpy image or a torch tensor, got {type(image).__name__}")
        if image.dtype != torch.uint8:
            raise ValueError(f"expected uint8 pixels, got {image.dtype}")
        if image.dim() != 3 or image.shape[2] != 3 or min(int(image.shape[0]), int(image.shape[1])) < 1:
            raise ValueError(f"expected an HxWx3 BGR image, got shape {tuple(image.shape)}")
        return image

    @staticmethod
    def host(image: Photo) -> np.ndarray:
        return to_host(image)

    def wants_reread(self, page: PageResult, main: Region) -> bool:
        """`reread.wants_reread`, fetching the label's detection input only when the cheap checks pass."""
        det = self.cfg.det
        return may_reread(page, main, det) and sharpness(to_host(main.image)) < det.deblur_below

    def finish_batch(self, photos: int) -> None:
        """After a batch of `photos` (re-reads included): count them, and write the running profile to
        `engine.device_profile_dir` when set."""
        self.profile.add_photos(photos)
        folder = self.cfg.engine.device_profile_dir
        if folder:
            self.profile.write(folder)

    def info(self) -> dict[str, Any]:
        return {"device": str(self.device), "profile": self.profile.summary()}


def load_profiles(folder: str | Path) -> list[dict[str, Any]]:
    """The per-process profiles written under `folder` (the device script merges them)."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("device-profile-*.json"))]


def ops_device(cfg: PodocrConfig) -> torch.device:
    """Where the device ops run: the torch backend's GPU when it runs on CUDA and one is there, else the CPU."""
    ec = cfg.engine
    on_cuda = ec.backend.strip().lower() == "torch" and ec.provider.strip().lower() == "cuda"
    if on_cuda and torch.cuda.is_available() and ec.device_id < torch.cuda.device_count():
        return torch.device("cuda", ec.device_id)
    return torch.device("cpu")
