"""The OCR pipeline: a batch of decoded photos in, one PageResult per photo out.

Every model stage runs once per batch over all photos: probe detection (find the label), detection on the
label crops, line classification, recognition of every line of every photo. Stage order:

    roi   probe each photo at low resolution → label box, sideways or not, detection scale   (roi.py)
    det   crop + scale + turn each label, detect lines, map quads back to photo pixels     (det.py)
    crop  perspective-crop every line from the full-resolution photo                        (rec.py)
    cls   P(180°) per line; a page whose lines vote "upside down" is flipped as a whole      (cls.py)
    rec   CTC-recognise all lines, bucketed by width                                        (rec.py)

A label that read little and is blurry is read once more from a deconvolved crop (deblur.py); the better
read wins. Lines come back in reading order in the upright label frame, with quads in original-photo pixels.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from podocr.config import DetConfig, PodocrConfig
from podocr.ocr.batching import round_up
from podocr.ocr.geometry import apply_affine, compose, reading_order, rotate90, rotate90_affine
from podocr.ocr.registry import ModelSet, resolve
from podocr.ocr.runtime.engine import EngineOptions, ShapeProfile, create_engine
from podocr.ocr.stages.cls import CLS_SHAPE, LineClassifier
from podocr.ocr.stages.deblur import sharpness, wiener_deblur
from podocr.ocr.stages.det import MODEL_STRIDE, DetBoxes, TextDetector
from podocr.ocr.stages.rec import CascadeRecognizer, TextRecognizer, crop_quad, load_charset
from podocr.ocr.stages.roi import (
    ReadPlan,
    line_text,
    plan_reads,
    probe_scale,
    sideways_turns,
    wants_second_look,
    whole_photo_plan,
)
from podocr.types import PageResult, TextLine

STAGES = ("roi", "det", "crop", "cls", "rec")
CONFIDENT = 0.8  # a line read at least this sure counts as read when judging a page (blur re-read)


@dataclass
class _Region:
    """One region of one photo on its way through the stages."""

    page: int
    plan: ReadPlan
    image: np.ndarray  # detection input: crop, scaled, turned
    to_photo: np.ndarray  # 2×3 affine: detection-input px → photo px
    quads: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float32))  # photo px
    crops: list[np.ndarray] = field(default_factory=list)
    extra_turns: int = 0  # sideways text the probe missed: the upright frame is the detection input turned
    flipped: bool = False  # the whole region was read upside down → turned 180°
    quick_reads: dict[int, tuple[str, float]] = field(default_factory=dict)  # crop index → its quick read

    @property
    def rotation(self) -> int:
        """Clockwise degrees from the photo to the upright reading frame."""
        return ((self.plan.quarter_turns + self.extra_turns + 2 * self.flipped) % 4) * 90


class _StageClock:
    """Per-photo share of each stage's batch time, split by a work measure (pixels, lines)."""

    def __init__(self, n: int) -> None:
        self.timings: list[dict[str, float]] = [dict.fromkeys(STAGES, 0.0) for _ in range(n)]

    @contextmanager
    def stage(self, name: str, work: dict[int, float]) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        elapsed = time.perf_counter() - t0
        total = sum(work.values())
        for page, w in work.items():
            self.timings[page][name] += elapsed * (w / total if total > 0 else 1.0 / len(work))


class OcrPipeline:
    """Batched PP-OCR over ONNX Runtime (or another engine backend). Build once per process, reuse."""

    def __init__(
        self,
        cfg: PodocrConfig,
        models: ModelSet,
        detector: TextDetector,
        recognizer: TextRecognizer | CascadeRecognizer,
        classifier: LineClassifier | None,
        probe_detector: TextDetector | None = None,
    ) -> None:
        self.cfg, self.models = cfg, models
        self.detector, self.recognizer, self.classifier = detector, recognizer, classifier
        self.probe_detector = probe_detector or detector

    @classmethod
    def from_config(cls, cfg: PodocrConfig, intra_op_threads: int | None = None) -> OcrPipeline:
        """Resolve and verify the model set(s), then create each engine once (threads: explicit > config)."""
        models = resolve(cfg.models)
        profiles = shape_profiles(cfg, models.rec_height)

        def engine(role: str, path: Any) -> Any:
            return create_engine(
                path, cfg.engine, role, EngineOptions(intra_op_threads, profile=profiles[role])
            )

        def recognizer(ms: ModelSet, role: str) -> TextRecognizer:
            return TextRecognizer(engine(role, ms.rec), cfg.rec, load_charset(ms), ms.rec_height)

        strong = recognizer(models, "rec")
        rec: TextRecognizer | CascadeRecognizer = strong
        if cfg.rec.fast_set and cfg.rec.fast_set != models.name:
            fast = resolve(dataclasses.replace(cfg.models, set=cfg.rec.fast_set))
            rec = CascadeRecognizer(
                recognizer(fast, "rec"),
                strong,
                cfg.rec.recheck_below,
                cfg.rec.recheck_digits,
                cfg.rec.recheck_digits_below,
            )
        classifier = None
        if cfg.cls.enabled and models.cls is not None:
            classifier = LineClassifier(engine("cls", models.cls), cfg.cls)
        dm = models
        if cfg.det.set and cfg.det.set != models.name:
            dm = resolve(dataclasses.replace(cfg.models, set=cfg.det.set))
        detector = TextDetector(engine("det", dm.det), cfg.det, dm.det_norm)
        probe = None
        if cfg.roi.enabled and cfg.roi.probe_set and cfg.roi.probe_set != models.name:
            ps = resolve(dataclasses.replace(cfg.models, set=cfg.roi.probe_set))
            probe = TextDetector(engine("det", ps.det), cfg.det, ps.det_norm)
        return cls(cfg, models, detector, rec, classifier, probe)

    def info(self) -> dict[str, Any]:
        """What runs: model set, checksums, backend and the provider each engine actually uses."""
        engines: dict[str, Any] = {"det": self.detector.engine}
        if self.probe_detector is not self.detector:
            engines["probe_det"] = self.probe_detector.engine
        if isinstance(self.recognizer, CascadeRecognizer):
            engines["rec_fast"] = self.recognizer.fast.engine
            engines["rec"] = self.recognizer.strong.engine
        else:
            engines["rec"] = self.recognizer.engine
        if self.classifier is not None:
            engines["cls"] = self.classifier.engine
        return {
            "model_set": self.models.name,
            "probe_set": self.cfg.roi.probe_set or self.models.name,
            "rec_fast_set": self.cfg.rec.fast_set or None,
            "sha256": dict(self.models.sha256),
            "backend": self.cfg.engine.backend,
            "providers": {role: e.provider for role, e in engines.items()},
        }

    # ---- running ----------------------------------------------------------------------------------------
    def run_safe(self, images: list[np.ndarray]) -> list[PageResult | Exception]:
        """Like `run`, but a photo that fails yields its exception in its slot instead of sinking the batch.

        The batch runs once; only if it raises is it re-run photo by photo to find the culprit(s).
        """
        out: list[PageResult | Exception] = []
        good: list[int] = []
        photos: list[np.ndarray] = []
        for i, img in enumerate(images):
            try:
                photos.append(as_bgr(img))
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

    def run(self, images: list[np.ndarray]) -> list[PageResult]:
        """OCR a batch of BGR uint8 photos; one PageResult per input, in order. Raises on any failure.

        With `engine.batch_threads` = k > 1 the photos are read one per task on k threads: ONNX Runtime and
        OpenCV release the GIL, and k single-threaded model calls on k cores beat one call spread over k cores
        by intra-op threads (these tensors are too small to split well). One photo per task, not k fixed
        parts: a photo's cost varies 3× (second looks, label size, line count), and with fixed parts the
        thread that finished first idled; 2 threads, 48 photos: 0.424 → 0.386 s/photo. A photo's own lines
        still go to the recogniser as one batch.
        """
        photos = [as_bgr(img) for img in images]
        k = min(self.cfg.engine.batch_threads, len(photos))
        if k <= 1:
            return self._run_batch(photos)
        with ThreadPoolExecutor(k, thread_name_prefix="podocr-ocr") as pool:
            return [page for pages in pool.map(lambda p: self._run_batch([p]), photos) for page in pages]

    def _run_batch(self, photos: list[np.ndarray]) -> list[PageResult]:
        if not photos:
            return []
        pages, regions = self._read(photos)
        for i, page in enumerate(pages):
            main = next((r for r in regions if r.page == i), None)
            if main is not None and self._wants_reread(page, main):
                pages[i] = self._reread_blurred(photos[i], page, main)
        return pages

    def _read(self, photos: list[np.ndarray]) -> tuple[list[PageResult], list[_Region]]:
        clock = _StageClock(len(photos))
        regions = self._plan(photos, clock)
        self._detect(photos, regions, clock)
        self._crop(photos, regions, clock)
        self._orient(regions, clock)
        texts = self._recognize(regions, clock)
        return self._assemble(photos, regions, texts, clock), regions

    def _wants_reread(self, page: PageResult, main: _Region) -> bool:
        """A label crop (not a whole photo: its line height is unknown) that read at most
        `det.deblur_max_lines` confident lines and whose detector input is blurrier than `det.deblur_below`."""
        det = self.cfg.det
        if det.deblur_max_lines <= 0 or det.deblur_below <= 0 or not main.plan.from_roi:
            return False
        if sum(line.confidence >= CONFIDENT for line in page.lines) > det.deblur_max_lines:
            return False
        return sharpness(main.image) < det.deblur_below

    def _reread_blurred(self, photo: np.ndarray, page: PageResult, main: _Region) -> PageResult:
        """Read the photo again with its label crop deconvolved (ocr/deblur.py); the read with more confident
        text wins, and the page's stage times include both reads. The blur undone is `det.deblur_sigma` of
        the label's small-line height, which the ROI stage estimated for the reading resolution."""
        det = self.cfg.det
        sigma = det.deblur_sigma * det.target_line_px / main.plan.scale
        x0, y0, x1, y1 = main.plan.box
        pad = int(np.ceil(3 * sigma))
        h, w = photo.shape[:2]
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
        t0 = time.perf_counter()
        sharpened = photo.copy()
        sharpened[y0:y1, x0:x1] = wiener_deblur(photo[y0:y1, x0:x1], sigma)
        deblur_s = time.perf_counter() - t0
        again = self._read([sharpened])[0][0]
        timings = {k: page.timings.get(k, 0.0) + again.timings.get(k, 0.0) for k in STAGES}
        timings["roi"] += deblur_s
        best = again if _confident_chars(again) > _confident_chars(page) else page
        return dataclasses.replace(best, timings=timings)

    # ---- stages -----------------------------------------------------------------------------------------
    def _plan(self, photos: list[np.ndarray], clock: _StageClock) -> list[_Region]:
        """Probe → read plans → detection inputs; time is shared by photo pixels, then by probe pixels."""
        roi, det = self.cfg.roi, self.cfg.det
        if roi.enabled:
            with clock.stage("roi", {i: float(p.shape[0] * p.shape[1]) for i, p in enumerate(photos)}):
                scales = [probe_scale(p.shape[0], p.shape[1], roi.probe_side) for p in photos]
                probes = [_probe_image(p, s) for p, s in zip(photos, scales, strict=True)]
            with clock.stage("roi", {i: float(p.shape[0] * p.shape[1]) for i, p in enumerate(probes)}):
                found = self._probe(probes)
                plans = [
                    plan_reads(pr, b, s, p.shape[0], p.shape[1], roi, det)
                    for pr, b, s, p in zip(probes, found, scales, photos, strict=True)
                ]
        else:
            plans = [[whole_photo_plan(p.shape[0], p.shape[1], det)] for p in photos]
        regions = []
        with clock.stage("roi", {i: float(sum(pl.scale**2 for pl in ps)) for i, ps in enumerate(plans)}):
            for page, (photo, page_plans) in enumerate(zip(photos, plans, strict=True)):
                for plan in page_plans:
                    image, to_photo = _region_image(photo, plan, det_step(det))
                    regions.append(_Region(page, plan, image, to_photo))
        return regions

    def _probe(self, probes: list[np.ndarray]) -> list[DetBoxes]:
        """Probe boxes per photo. A probe that may show a sideways label is detected again turned 90°, and
        the turn whose lines are longer wins (boxes mapped back to the probe's frame, so the label reads as
        sideways): detectors trained on upright text find little of a sideways label's text."""
        found = self.probe_detector.detect(probes)
        again = [i for i, b in enumerate(found) if wants_second_look(b, max(probes[i].shape[:2]))]
        if not again:
            return found
        turned = self.probe_detector.detect([rotate90(probes[i], 3) for i in again])
        for i, boxes in zip(again, turned, strict=True):
            if line_text(boxes)[0] > line_text(found[i])[0]:
                h, w = probes[i].shape[:2]
                found[i] = DetBoxes(apply_affine(boxes.quads, rotate90_affine(3, w, h)), boxes.scores)
        return found

    def _detect(self, photos: list[np.ndarray], regions: list[_Region], clock: _StageClock) -> None:
        work = _per_page(regions, lambda r: float(r.image.shape[0] * r.image.shape[1]))
        with clock.stage("det", work):
            found = self.detector.detect([r.image for r in regions])
            for r, boxes in zip(regions, found, strict=True):
                if len(boxes):
                    r.quads = apply_affine(boxes.quads, r.to_photo)
                    r.extra_turns = sideways_turns(boxes.quads)

    def _crop(self, photos: list[np.ndarray], regions: list[_Region], clock: _StageClock) -> None:
        with clock.stage("crop", _per_page(regions, lambda r: float(len(r.quads)))):
            for r in regions:
                r.crops = [crop_quad(photos[r.page], q) for q in r.quads]

    def _orient(self, regions: list[_Region], clock: _StageClock) -> None:
        """Turn regions 180° when their widest lines vote 'upside down' (votes weighted by width), then flip
        single classified lines that still look upside down. Only `cls.page_lines` lines per region are
        classified: the page decision needs a few long lines, not all of them."""
        if self.classifier is None:
            return
        with clock.stage(
            "cls", _per_page(regions, lambda r: float(min(len(r.crops), self.cfg.cls.page_lines)))
        ):
            picks = [_widest(r.crops, self.cfg.cls.page_lines) for r in regions]
            flat = [r.crops[j] for r, idx in zip(regions, picks, strict=True) for j in idx]
            if not flat:
                return
            p180 = self.classifier.prob_180(flat)
            ends = np.cumsum([len(idx) for idx in picks])
            probs = [p180[end - len(idx) : end] for idx, end in zip(picks, ends, strict=True)]
            votes = []
            for r, idx, p in zip(regions, picks, probs, strict=True):
                weight = np.array([r.crops[j].shape[1] for j in idx], np.float32)
                votes.append(float(((p - 0.5) * weight).sum() / weight.sum()) if len(idx) else -0.5)
            flips = self._confirm_flips(regions, picks, votes)
            for r, idx, p, flip in zip(regions, picks, probs, flips, strict=True):
                if not len(idx):
                    continue
                if flip:
                    r.flipped = True
                    p = 1.0 - p
                    r.quads = r.quads[:, [2, 3, 0, 1]]
                    r.crops = [rotate90(c, 2) for c in r.crops]
                for j in idx[p > self.cfg.cls.thresh] if self.cfg.cls.flip_lines else ():
                    r.quads[j] = r.quads[j][[2, 3, 0, 1]]
                    r.crops[j] = rotate90(r.crops[j], 2)
                    r.quick_reads.pop(int(j), None)

    def _confirm_flips(
        self, regions: list[_Region], picks: list[np.ndarray], votes: list[float]
    ) -> list[bool]:
        """Upside down or not, per region. A classifier vote not clearly "upright" (every flip, and weak keeps)
        is settled by reading the voting lines both ways with the quickest recogniser: text read the wrong way
        up reads with clearly lower confidence, and blur or carton print that fools the 2-class classifier
        (measured: whole labels read upside down) does not fool that. The reads of the way chosen are kept
        (`_Region.quick_reads`): recognition does not read those lines a second time."""
        flips = [v > 0 for v in votes]
        check = [k for k, v in enumerate(votes) if v > -self.cfg.cls.confirm_below and len(picks[k])]
        if not check:
            return flips
        crops = [regions[k].crops[j] for k in check for j in picks[k]]
        reads = self.recognizer.quick.recognize(crops + [rotate90(c, 2) for c in crops])
        n, start = len(crops), 0
        for k in check:
            m = len(picks[k])
            as_is = np.array([c for _, c in reads[start : start + m]], np.float32)
            turned = np.array([c for _, c in reads[n + start : n + start + m]], np.float32)
            flips[k] = float((turned - as_is).sum()) > 0
            chosen = reads[n + start : n + start + m] if flips[k] else reads[start : start + m]
            regions[k].quick_reads = {int(j): res for j, res in zip(picks[k], chosen, strict=True)}
            start += m
        return flips

    def _recognize(self, regions: list[_Region], clock: _StageClock) -> list[list[tuple[str, float]]]:
        work = _per_page(regions, lambda r: float(sum(c.shape[1] / max(c.shape[0], 1) for c in r.crops)))
        with clock.stage("rec", work):
            flat = [c for r in regions for c in r.crops]
            known, start = {}, 0
            for r in regions:
                known.update({start + j: res for j, res in r.quick_reads.items()})
                start += len(r.crops)
            texts = self.recognizer.recognize(flat, known) if flat else []
        out, start = [], 0
        for r in regions:
            out.append(texts[start : start + len(r.crops)])
            start += len(r.crops)
        return out

    def _assemble(
        self,
        photos: list[np.ndarray],
        regions: list[_Region],
        texts: list[list[tuple[str, float]]],
        clock: _StageClock,
    ) -> list[PageResult]:
        pages: list[list[tuple[_Region, list[tuple[str, float]]]]] = [[] for _ in photos]
        for r, res in zip(regions, texts, strict=True):
            pages[r.page].append((r, res))
        results = []
        for i, (photo, page_regions) in enumerate(zip(photos, pages, strict=True)):
            lines: list[TextLine] = []
            for r, res in page_regions:
                keep = [j for j, (t, c) in enumerate(res) if t.strip() and c >= self.cfg.rec.drop_score]
                if not keep:
                    continue
                upright = _to_upright(r, r.quads[keep])
                for j in (keep[k] for k in reading_order(upright)):
                    text, conf = res[j]
                    quad = [(float(x), float(y)) for x, y in r.quads[j]]
                    lines.append(TextLine(text=text, confidence=conf, quad=quad))
            main = page_regions[0][0] if page_regions else None
            rois = [r.plan.box for r, _ in page_regions if r.plan.from_roi]
            results.append(
                PageResult(
                    lines=lines,
                    width=photo.shape[1],
                    height=photo.shape[0],
                    timings=clock.timings[i],
                    rotation=0 if main is None else main.rotation,
                    roi=_union(rois),
                )
            )
        return results


# ---- helpers ------------------------------------------------------------------------------------------------
def shape_profiles(cfg: PodocrConfig, rec_height: int) -> dict[str, ShapeProfile]:
    """The input shapes each model sees, from the bucket settings (TensorRT builds one profile from these)."""
    dc, rc, cc = cfg.det, cfg.rec, cfg.cls
    det_max = round_up(dc.max_side, dc.bucket_step)
    h = rec_height
    return {
        "det": ShapeProfile((1, 3, 32, 32), (1, 3, 640, 640), (dc.batch_size, 3, det_max, det_max)),
        "rec": ShapeProfile(
            (1, 3, h, rc.width_bucket), (rc.batch_size, 3, h, 320), (rc.batch_size, 3, h, rc.max_width)
        ),
        "cls": ShapeProfile(
            (1, 3, *CLS_SHAPE), (cc.batch_size, 3, *CLS_SHAPE), (cc.batch_size, 3, *CLS_SHAPE)
        ),
    }


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


def det_step(det: DetConfig) -> int:
    """Detection inputs are sized in multiples of this (the bucket step, at least the model stride)."""
    return max(MODEL_STRIDE, round_up(det.bucket_step, MODEL_STRIDE))


def _probe_image(photo: np.ndarray, scale: float) -> np.ndarray:
    """The probe: area-averaged from a strided view when shrinking a lot (a 12-MP photo costs ~4× less than
    a full INTER_AREA pass, and the probe only has to find the label)."""
    step = int(0.5 / scale) if scale < 0.5 else 1
    view = photo[::step, ::step] if step > 1 else photo
    h, w = photo.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (view.shape[1], view.shape[0]):
        return view
    return cv2.resize(view, size, interpolation=cv2.INTER_AREA)


def _region_image(photo: np.ndarray, plan: ReadPlan, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop → scale → turn; and the affine taking detection-input px back to photo px.

    Each side is scaled to the nearest multiple of `step` (the detector's shape bucket) instead of being
    padded up to it: a few percent of anisotropy costs DB nothing, padding cost up to 15 % more pixels.
    """
    x0, y0, x1, y1 = plan.box
    w, h = x1 - x0, y1 - y0
    sw = max(step, round(w * plan.scale / step) * step)
    sh = max(step, round(h * plan.scale / step) * step)
    crop = photo[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if sw * sh < w * h else cv2.INTER_LINEAR
    scaled = crop if (sw, sh) == (w, h) else cv2.resize(crop, (sw, sh), interpolation=interp)
    to_crop = np.array([[w / sw, 0, x0], [0, h / sh, y0]], np.float64)
    return rotate90(scaled, plan.quarter_turns), compose(to_crop, rotate90_affine(plan.quarter_turns, sw, sh))


def _to_upright(region: _Region, quads: np.ndarray) -> np.ndarray:
    """Quads in the region's upright frame: the detection input, turned by `extra_turns`, then 180° if the
    region was flipped."""
    pts = apply_affine(quads, cv2.invertAffineTransform(region.to_photo))
    h, w = region.image.shape[:2]
    if region.extra_turns:
        pts = apply_affine(pts, cv2.invertAffineTransform(rotate90_affine(region.extra_turns, w, h)))
        if region.extra_turns % 2:
            h, w = w, h
    if region.flipped:
        pts = apply_affine(pts, rotate90_affine(2, w, h))
    return pts


def _widest(crops: list[np.ndarray], n: int) -> np.ndarray:
    """Indices of the n crops with the most text (aspect ratio), all of them when n ≤ 0."""
    aspect = np.array([c.shape[1] / max(c.shape[0], 1) for c in crops])
    order = np.argsort(-aspect, kind="stable")
    return order if n <= 0 else order[:n]


def _per_page(regions: list[_Region], measure: Any) -> dict[int, float]:
    work: dict[int, float] = {}
    for r in regions:
        work[r.page] = work.get(r.page, 0.0) + measure(r)
    return work


def _union(boxes: list[tuple[int, int, int, int]]) -> list[int] | None:
    if not boxes:
        return None
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _confident_chars(page: PageResult) -> int:
    return sum(len(line.text.strip()) for line in page.lines if line.confidence >= CONFIDENT)
