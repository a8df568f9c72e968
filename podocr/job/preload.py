"""A Dask worker preload: each worker of a local cluster starts loading the job's models as it starts.

Without it a worker loads its models only when the driver's warm-up call reaches it, after the cluster is up:
the worker's own start-up (imports, registering with the scheduler) and the model load then run one after the
other. Started here, on a thread of its own, the load overlaps the rest of the worker's start; the warm-up's
`get_pipeline` then finds the pipeline loaded, or waits on the cache's lock for the load in progress. A load
that fails here is left for the warm-up to repeat, which reports the error as it always has.

Only the sections that shape the pipeline (and the job's allocator settings) travel: never `io`, which may
hold credentials.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import click

from podocr.config import PodocrConfig
from podocr.job.cache import PIPELINE_SECTIONS, get_pipeline

log = logging.getLogger(__name__)

MODULE = __name__


def worker_preloads(cfg: PodocrConfig, intra_op_threads: int | None) -> dict[str, Any]:
    """`preload` and `preload_argv` for a cluster's workers: those Dask's config already names (a deployment's
    own preloads keep running, with their own arguments), then this module."""
    import dask

    named = dask.config.get("distributed.worker.preload", None) or []
    modules = [named] if isinstance(named, str) else list(named)
    argv = dask.config.get("distributed.worker.preload-argv", None) or []
    if argv and isinstance(argv[0], str):  # Dask's shorthand: one argv for every preload
        argv = [list(argv)] * len(modules)
    argvs = [list(a) for a in argv] or [[] for _ in modules]
    return {"preload": [*modules, MODULE], "preload_argv": [*argvs, preload_argv(cfg, intra_op_threads)]}


def preload_argv(cfg: PodocrConfig, intra_op_threads: int | None) -> list[str]:
    """The worker's `dask_setup` arguments for loading `cfg`'s pipeline with this many model threads."""
    data = cfg.to_dict()
    sections = {name: data[name] for name in (*PIPELINE_SECTIONS, "job")}
    return ["--config", json.dumps(sections, default=str), "--intra-op-threads", str(intra_op_threads or 0)]


def load(cfg: PodocrConfig, intra_op_threads: int | None) -> None:
    """Load the pipeline into this process's cache; a failure is logged, and the warm-up reports it."""
    try:
        get_pipeline(cfg, intra_op_threads)
    except Exception as exc:  # the warm-up loads again and turns the same error into the job's exit code
        log.info("preloading the models failed (%s: %s); the warm-up will retry", type(exc).__name__, exc)


@click.command()
@click.option("--config", "config_json", required=True)
@click.option("--intra-op-threads", type=int, default=0)
def dask_setup(worker: Any, config_json: str, intra_op_threads: int) -> None:
    cfg = PodocrConfig.from_dict(json.loads(config_json))
    threading.Thread(
        target=load, args=(cfg, intra_op_threads or None), name="podocr-preload", daemon=True
    ).start()
