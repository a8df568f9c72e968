"""Prebuild ONNX Runtime TensorRT engine caches (`podocr models build-trt`) on the GPU host type that runs them.

A TensorRT engine takes many minutes to build per model (docs/gpu.md) and is
only valid for one GPU architecture, TensorRT and ONNX Runtime version, and optimisation profile. Built lazily,
that cost would land on the first partition of every fresh worker. This builds each model once, with exactly
the profiles the pipeline passes at run time (`build.shape_profiles`), into `engine.trt_cache_dir`; ship that
folder with the worker image (or a shared volume) and workers load engines instead of building them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from podocr.config import PodocrConfig
from podocr.ocr.build import shape_profiles
from podocr.ocr.registry import Registry, resolve
from podocr.ocr.runtime.engine import EngineError, EngineOptions, ShapeProfile, create_engine

TRT_PROVIDER = "TensorrtExecutionProvider"


@dataclass(frozen=True)
class TrtJob:
    """One model to build: which set and role, the file, and the optimisation profile it will run under."""

    set_name: str
    role: str
    model: Path
    profile: ShapeProfile


@dataclass
class TrtBuild:
    job: TrtJob
    provider: str  # what the session reports; TRT_PROVIDER when the build worked
    seconds: float
    shapes_run: list[tuple[int, ...]] = field(default_factory=list)


def plan_trt_builds(cfg: PodocrConfig, set_names: list[str] | None = None) -> list[TrtJob]:
    """Every model of the given sets (default: the configured one) with its run-time profile; files verified."""
    names = set_names or [cfg.models.set]
    registry = Registry.load(cfg.models.registry or None)
    jobs: list[TrtJob] = []
    seen: set[tuple[str, Path]] = set()
    for name in names:
        registry.spec(name)  # unknown set → ModelError naming the known ones
        set_cfg = cfg.replace(models__set=name)
        models = resolve(set_cfg.models)
        profiles = shape_profiles(set_cfg, models.rec_height)
        paths = {"det": models.det, "rec": models.rec}
        if models.cls is not None and cfg.cls.enabled:
            paths["cls"] = models.cls
        for role, path in paths.items():
            if (role, path) not in seen:  # sets share the cls model
                seen.add((role, path))
                jobs.append(TrtJob(name, role, path, profiles[role]))
    return jobs


def require_tensorrt(available: list[str]) -> None:
    """TensorRT engines can only be built where they will run: a GPU host with onnxruntime-gpu + TensorRT."""
    if TRT_PROVIDER not in available:
        raise EngineError(
            f"building TensorRT engines needs ONNX Runtime's {TRT_PROVIDER}, but this onnxruntime offers only "
            f"{available}. Run `podocr models build-trt` on the GPU host type the workers use, with "
            "`pip install 'podocr[gpu]'` and the TensorRT libraries (engines are per GPU architecture)"
        )


def build_trt_cache(cfg: PodocrConfig, set_names: list[str] | None = None) -> list[TrtBuild]:
    """Build (or load, if cached) each engine and run it at min/opt/max shapes: all three inside one profile."""
    import onnxruntime as ort

    require_tensorrt(ort.get_available_providers())
    engine_cfg = cfg.replace(engine__backend="onnxruntime", engine__provider="tensorrt").engine
    engine_cfg.allow_fallback = False  # a CUDA-only session would cache nothing
    results = []
    for job in plan_trt_builds(cfg, set_names):
        start = time.perf_counter()
        engine = create_engine(job.model, engine_cfg, job.role, EngineOptions(profile=job.profile))
        shapes = [job.profile.min, job.profile.opt, job.profile.max]
        for shape in shapes:
            engine.run(np.zeros(shape, np.float32))
        results.append(TrtBuild(job, engine.provider, time.perf_counter() - start, list(shapes)))
    return results
