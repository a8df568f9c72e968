"""The per-worker model cache: each worker process loads the OCR models once and reuses them for every task.

Tasks carry only the (small, picklable) config; the ONNX sessions stay in this module-level dict, keyed by a hash
of the settings that change what the pipeline computes, so a worker serving two jobs with different model sets
keeps both and a retried task on the same worker pays nothing. This is the one global the project allows.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING

from podocr.config import PodocrConfig
from podocr.job.allocator import tune_allocator

if TYPE_CHECKING:
    from podocr.ocr.pipeline import OcrPipeline

_PIPELINES: dict[str, OcrPipeline] = {}
_LOCK = threading.Lock()  # threads_per_worker > 1: two tasks must not both load the same models
_LOADS: list[str] = []  # every load, in order: proves "once per worker" in tests and run stats
PIPELINE_SECTIONS = ("models", "engine", "roi", "det", "cls", "rec")


def config_key(cfg: PodocrConfig, intra_op_threads: int | None = None) -> str:
    """Stable hash of everything that shapes the pipeline (not io/job settings, which do not)."""
    data = cfg.to_dict()
    relevant = {name: data[name] for name in PIPELINE_SECTIONS}
    relevant["intra_op_threads"] = {"value": intra_op_threads}
    blob = json.dumps(relevant, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def get_pipeline(cfg: PodocrConfig, intra_op_threads: int | None = None) -> OcrPipeline:
    """This process's pipeline for `cfg`, loaded on first use (the allocator is set up for it first)."""
    key = config_key(cfg, intra_op_threads)
    pipeline = _PIPELINES.get(key)
    if pipeline is not None:
        return pipeline
    with _LOCK:
        pipeline = _PIPELINES.get(key)
        if pipeline is None:
            from podocr.ocr.pipeline import OcrPipeline

            _tune_allocator(cfg)
            pipeline = OcrPipeline.from_config(cfg, intra_op_threads=intra_op_threads)
            _PIPELINES[key] = pipeline
            _LOADS.append(key)
    return pipeline


def load_history() -> list[str]:
    """Config keys in the order this process loaded them (`client.run(load_history)` shows loads per worker)."""
    return list(_LOADS)


def install(cfg: PodocrConfig, intra_op_threads: int | None, pipeline: OcrPipeline) -> None:
    """Make `pipeline` this process's pipeline for `cfg` (benchmarks/orchestration_1m.py installs its
    fixed-page reader on each worker this way, to time everything but the OCR)."""
    with _LOCK:
        _tune_allocator(cfg)
        _PIPELINES[config_key(cfg, intra_op_threads)] = pipeline


def _tune_allocator(cfg: PodocrConfig) -> None:
    """A process that holds a pipeline handles photo-sized arrays: set its allocator up for them (job/allocator)."""
    job = cfg.job
    tune_allocator(job.malloc_mmap_threshold_mib, job.malloc_trim_threshold_mib, job.malloc_arena_max)
