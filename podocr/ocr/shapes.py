"""Shape profiles: the shapes every model input is padded to, and the closed set the GPU profile allows.

A GPU runtime pays on the host for every input shape it has not seen: cuDNN builds an execution plan per conv
layer and shape (per thread, in PyTorch), CUDA graphs are captured per shape, TensorRT needs its profiles to
span them. The CPU profile keeps the bucket steps (`det.bucket_step`, `rec.width_bucket`, batches as they come),
which waste little compute but let a day's photos bring hundreds of new shapes. The GPU profile pads
detector inputs to canvases whose sides come from a short ladder, recogniser crops to a few widths and every
batch up a short ladder of sizes, so the whole day runs a small, known set of (model, shape) pairs that a
warm-up (`warm_up`) can run once before the first photo.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from podocr.config import ConfigError, PodocrConfig
from podocr.ocr.batching import round_up
from podocr.ocr.stages.cls import CLS_SHAPE
from podocr.ocr.stages.det import MODEL_STRIDE

log = logging.getLogger(__name__)

Shape = tuple[int, int, int, int]
GPU_PROVIDERS = ("cuda", "tensorrt")
# how the GPU profile fills a detector canvas around an image: the stage's normalised zero (the mean colour) or
# the image's own border pixels, repeated or mirrored
DET_PADS = {"constant": None, "edge": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101}


class _Runs(Protocol):
    def run(self, x: np.ndarray) -> np.ndarray: ...


def profile_name(cfg: PodocrConfig) -> str:
    """`engine.shape_profile` resolved: `auto` means the GPU profile exactly when a GPU provider is asked for."""
    want = cfg.engine.shape_profile.strip().lower()
    if want == "auto":
        return "gpu" if cfg.engine.provider.strip().lower() in GPU_PROVIDERS else "cpu"
    if want not in ("cpu", "gpu"):
        raise ConfigError(f"engine.shape_profile = {want!r}: use auto, cpu or gpu")
    return want


def ladder(text: str, key: str, multiple: int = 1) -> tuple[int, ...]:
    """A comma-separated list of positive sizes, sorted and de-duplicated; each a multiple of `multiple`."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise ConfigError(f"engine.{key} = {text!r}: expected comma-separated integers") from exc
    if not values or values[0] < 1 or any(v % multiple for v in values):
        raise ConfigError(f"engine.{key} = {text!r}: expected positive multiples of {multiple}")
    return tuple(values)


def _up(value: int, rungs: tuple[int, ...]) -> int | None:
    """Smallest rung ≥ value, or None above the top rung."""
    return next((r for r in rungs if r >= value), None)


@dataclass(frozen=True)
class ShapePolicy:
    """The GPU profile's padding rules; stages hold one (None = the CPU profile's bucket steps)."""

    det_sides: tuple[int, ...]  # both detector sides are padded up to one of these
    rec_widths: tuple[int, ...]  # recogniser crops are padded up to one of these
    batches: tuple[int, ...]  # a batch of n is padded up to the first rung ≥ n (rungs capped per stage)
    det_step: int = 64  # sides above the top rung (never, with the defaults) fall back to this step
    det_pad: str = "constant"  # how the detector canvas around the image is filled (DET_PADS)

    @classmethod
    def from_config(cls, cfg: PodocrConfig) -> ShapePolicy:
        """The ladders from `engine.gpu_*`, topped with the caps the stages already enforce (det.max_side,
        rec.max_width), so no input the stages can produce falls outside the closed set."""
        ec, dc, rc = cfg.engine, cfg.det, cfg.rec
        sides = ladder(ec.gpu_det_sides, "gpu_det_sides", MODEL_STRIDE)
        top = round_up(dc.max_side, MODEL_STRIDE)
        sides = tuple(s for s in sides if s <= top) or (top,)
        if sides[-1] < top:
            sides = (*sides, top)
        widths = tuple(w for w in ladder(ec.gpu_rec_widths, "gpu_rec_widths") if w <= rc.max_width)
        if not widths or widths[-1] < rc.max_width:
            widths = (*widths, rc.max_width)
        pad = ec.gpu_det_pad.strip().lower()
        if pad not in DET_PADS:
            raise ConfigError(f"engine.gpu_det_pad = {ec.gpu_det_pad!r}: use {', '.join(DET_PADS)}")
        return cls(sides, widths, ladder(ec.gpu_batches, "gpu_batches"), dc.bucket_step, pad)

    def det_canvas(self, height: int, width: int) -> tuple[int, int]:
        """The canvas a detector input of this size is padded to."""
        step = max(MODEL_STRIDE, round_up(self.det_step, MODEL_STRIDE))
        h, w = _up(height, self.det_sides), _up(width, self.det_sides)
        return (h or round_up(height, step), w or round_up(width, step))

    def pad_det(self, image: np.ndarray, height: int, width: int) -> np.ndarray | None:
        """The image (BGR uint8) made into its canvas, or None for the constant fill (the stage pads with its
        normalised zero, i.e. the mean colour).

        The canvas can be much larger than the image, and a detector's output near text depends on context well
        beyond the text, so a large flat fill changes what it finds inside the image (the stage crops the map back
        to the image before taking boxes, so nothing is found in the fill).
        """
        mode = DET_PADS[self.det_pad]
        if mode is None:
            return None
        h, w = image.shape[:2]
        return cv2.copyMakeBorder(image, 0, height - h, 0, width - w, mode)

    def rec_width(self, width: int) -> int:
        """The width a recogniser crop (already resized to the model height) is padded to."""
        return _up(width, self.rec_widths) or self.rec_widths[-1]

    def batch_rungs(self, max_batch: int) -> tuple[int, ...]:
        """The batch sizes a stage cutting batches at `max_batch` will run."""
        return (*(b for b in self.batches if b < max_batch), max_batch)

    def batch(self, n: int, max_batch: int) -> int:
        """Rows to allocate for a batch of n (the extra rows are zeros whose outputs are dropped)."""
        return _up(n, self.batch_rungs(max_batch)) or n


def closed_set(
    cfg: PodocrConfig, policy: ShapePolicy, rec_heights: Mapping[str, int]
) -> dict[str, list[Shape]]:
    """Every (role, NCHW shape) the GPU profile can feed, per engine role of `build.Components.engines()`.

    `rec_heights` maps the recogniser roles present ("rec", "rec_fast") to their model's input height. The probe
    detector sees only probes (long side ≤ roi.probe_side), so it gets the canvases up to that side; the label
    detector gets every canvas; when one detector does both, it gets every canvas.
    """
    dc, rc, cc = cfg.det, cfg.rec, cfg.cls
    det_b, rec_b, cls_b = (policy.batch_rungs(b) for b in (dc.batch_size, rc.batch_size, cc.batch_size))

    def det(sides: tuple[int, ...]) -> list[Shape]:
        return [(b, 3, h, w) for h in sides for w in sides for b in det_b]

    out: dict[str, list[Shape]] = {"det": det(policy.det_sides)}
    probe_top = _up(cfg.roi.probe_side, policy.det_sides) or policy.det_sides[-1]
    out["probe_det"] = det(tuple(s for s in policy.det_sides if s <= probe_top))
    for role, h in rec_heights.items():
        out[role] = [(b, 3, h, w) for w in policy.rec_widths for b in rec_b]
    out["cls"] = [(b, 3, *CLS_SHAPE) for b in cls_b]
    return out


@dataclass
class WarmUp:
    """What the warm-up ran: shapes per role, seconds per role, and the slowest first call."""

    shapes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    slowest: tuple[str, Shape, float] | None = None

    @property
    def total_shapes(self) -> int:
        return sum(self.shapes.values())

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "shapes": self.total_shapes,
            "seconds": round(self.total_seconds, 3),
            "per_role": {
                r: {"shapes": n, "seconds": round(self.seconds[r], 3)} for r, n in self.shapes.items()
            },
        }
        if self.slowest is not None:
            role, shape, s = self.slowest
            out["slowest"] = {"role": role, "shape": list(shape), "seconds": round(s, 3)}
        return out


def warm_up(engines: Mapping[str, _Runs], shapes: Mapping[str, list[Shape]]) -> WarmUp:
    """Run every shape of the closed set once on its engine (zeros in), so no photo pays a first call.

    Roles without an engine are skipped; an engine that fails at some shape raises here, at load, instead of on
    a photo later.
    """
    result = WarmUp()
    for role, engine in engines.items():
        todo = shapes.get(role, [])
        t_role = time.perf_counter()
        for shape in todo:
            t = time.perf_counter()
            engine.run(np.zeros(shape, np.float32))
            dt = time.perf_counter() - t
            if result.slowest is None or dt > result.slowest[2]:
                result.slowest = (role, shape, dt)
        result.shapes[role] = len(todo)
        result.seconds[role] = time.perf_counter() - t_role
    log.info("warm-up: %d shapes in %.1f s (%s)", result.total_shapes, result.total_seconds, result.shapes)
    return result
