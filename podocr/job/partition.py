"""One partition's task: its rows from the staged manifest → the photo chain (job/photos.py) → a part file.

The same function runs as a Dask task and in the plain in-process path (`--scheduler synchronous`). A photo never
fails its partition (it becomes an error row); what does fail it — its manifest slice or part file cannot be
read/written, the models cannot load, storage stops answering — is raised so the partition is retried. The
part's deterministic staged name makes a retry overwrite, never duplicate. Only a small summary dict goes back
to the driver: rows go to storage, never through the scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podocr.config import PodocrConfig
from podocr.io import manifest as manifest_io
from podocr.io import sink
from podocr.io.storage import ImageStore, open_fs
from podocr.job.cache import get_pipeline
from podocr.job.photos import PhotoChain
from podocr.job.rows import RowMaker, clean
from podocr.logs import log_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """Everything a partition task needs — small and picklable: config and URIs, never models or clients."""

    cfg: PodocrConfig
    run_id: str
    date: str
    staging_uri: str  # the run's staging folder (parts land here)
    manifest_uri: str  # the staged manifest: one row group per partition
    images_root: str
    intra_op_threads: int | None = None


def run_partition(index: int, ctx: JobContext) -> dict[str, Any]:
    """Process partition `index` and write its part; returns its summary (rows, statuses, seconds, worker)."""
    started = time.perf_counter()
    with log_context(run_id=ctx.run_id, partition=index):
        rows = load_rows(index, ctx)
        pipeline = get_pipeline(ctx.cfg, ctx.intra_op_threads)
        store = ImageStore(ctx.cfg.io, ctx.images_root)
        chain = PhotoChain(ctx.cfg, store, rows, RowMaker(rows, _common(ctx, index, pipeline)), pipeline)
        table = chain.table()
        fs, folder = open_fs(ctx.staging_uri, ctx.cfg.io)
        sink.write_parquet_atomic(fs, table, f"{folder}/{sink.part_name(index)}")
        statuses = table.column("status").to_pylist()
        codes = table.column("error_code").to_pylist()
        summary = {
            "partition": index,
            "rows": table.num_rows,
            "ok": statuses.count("ok"),
            "no_text": statuses.count("no_text"),
            "error": statuses.count("error"),
            "timeout": codes.count("timeout"),
            "stuck_threads": chain.stuck_threads(),
            "seconds": time.perf_counter() - started,
            "worker": worker_name(),
            "worker_address": dask_worker_address(),
        }
        log.info("partition done: %(rows)d rows (%(ok)d ok, %(error)d error) in %(seconds).1fs", summary)
    return summary


def load_rows(index: int, ctx: JobContext) -> list[dict[str, Any]]:
    """Partition `index` of the staged manifest as one dict per row (cells as strings or None)."""
    table = manifest_io.read_partition(ctx.manifest_uri, index, ctx.cfg.io)
    return [{str(k): clean(v) for k, v in row.items()} for row in table.to_pylist()]


def warm_up(ctx: JobContext) -> dict[str, Any]:
    """Load this process's pipeline now (fail fast on missing models) and report what it loaded."""
    info = dict(get_pipeline(ctx.cfg, ctx.intra_op_threads).info())
    info["worker"] = worker_name()
    return info


def provider_of(info: Mapping[str, Any]) -> str | None:
    """One string for the `provider` column: the engines' providers, de-duplicated (det/rec/cls usually agree)."""
    providers = info.get("providers") or {}
    names = sorted({str(v) for v in providers.values()}) if isinstance(providers, Mapping) else []
    return ",".join(names) or info.get("provider")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dask_worker_address() -> str | None:
    """The Dask address of the worker running this task (the driver restarts it by that), None outside Dask."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def _common(ctx: JobContext, index: int, pipeline: Any) -> dict[str, Any]:
    info = pipeline.info()
    return {
        "run_id": ctx.run_id,
        "model_set": info.get("model_set"),
        "model_versions": dict(info.get("sha256") or {}),
        "provider": provider_of(info),
        "partition": index,
        "worker": worker_name(),
    }
