"""One partition's task: its rows from the staged manifest → the photo chain (job/photos.py) → a part file.

On a cluster the manifest is a Dask DataFrame (`load_frame` over the staged partitions) mapped through
`process_frame` (map_partitions); the in-process path (`--scheduler synchronous`) calls `run_partition`, which is
the same two steps without Dask. A photo never
fails its partition (it becomes an error row); what does fail it — its manifest slice or part file cannot be
read/written, the models cannot load, storage stops answering — is raised so the partition is retried. The
part's deterministic staged name makes a retry overwrite, never duplicate. Only a small summary dict goes back
to the driver: rows go to storage, never through the scheduler.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

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
    manifest_uri: str  # the staged manifest's folder: one row group per partition, a few per file
    images_root: str
    intra_op_threads: int | None = None


# ---- the two task functions of the Dask graph (from_map → map_partitions) ---------------------------------------
SUMMARY_META = pd.DataFrame({"summary": pd.Series([], dtype=object)})
"""A partition's result on the graph: one row holding its summary dict (rows themselves go to storage)."""


def load_frame(index: int, ctx: JobContext) -> pd.DataFrame:
    """Partition `index` of the staged manifest as a frame (cells as strings or None), its number attached."""
    frame = pd.DataFrame(load_rows(index, ctx), dtype=object)
    frame["partition"] = index
    return frame


def process_frame(frame: pd.DataFrame, ctx: JobContext) -> pd.DataFrame:
    """Process one partition's rows and write its part; a one-row frame holding the summary comes back."""
    if frame.empty:  # staged partitions are never empty; a frame without rows has lost its partition number
        raise ValueError("empty manifest partition")
    index = int(frame["partition"].iloc[0])
    rows = [{str(k): v for k, v in r.items()} for r in frame.drop(columns=["partition"]).to_dict("records")]
    return pd.DataFrame({"summary": [process_rows(index, rows, ctx)]}, dtype=object)


def run_partition(index: int, ctx: JobContext) -> dict[str, Any]:
    """The in-process path: exactly what the Dask graph runs for partition `index`; returns its summary."""
    return process_rows(index, load_rows(index, ctx), ctx)


def process_rows(index: int, rows: list[dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
    """Read partition `index`'s photos and write its part; returns its summary (rows, statuses, seconds, worker)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    with log_context(run_id=ctx.run_id, partition=index):
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
            "cpu_s": time.process_time() - cpu_started,
            "worker": worker_name(),
            "worker_address": dask_worker_address(),
            "peak_rss_mib": peak_rss_mib(),
        }
        log.info("partition done: %(rows)d rows (%(ok)d ok, %(error)d error) in %(seconds).1fs", summary)
    return summary


def load_rows(index: int, ctx: JobContext) -> list[dict[str, Any]]:
    """Partition `index` of the staged manifest as one dict per row (cells as strings or None)."""
    table = manifest_io.read_partition(ctx.manifest_uri, index, ctx.cfg.job.partition_size, ctx.cfg.io)
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


def peak_rss_mib() -> int:
    """This process's peak resident memory so far (models, caches and the largest partition it has run): what
    `job.memory_limit` must leave room for."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return int(peak / 2**20 if sys.platform == "darwin" else peak / 2**10)


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
