"""The process phase: a cluster, the models loaded on every worker, then every partition to do, watched.

Returns the dispatch `Outcome` plus what the `_SUCCESS` document records about the cluster and the models.
The cluster we started is always closed: on success in the background, so that the commit and the report
overlap its shutdown (`Processed.wait_closed`), on failure before the error leaves here. An external one
(`--scheduler`) is never shut down.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from podocr.config import PodocrConfig
from podocr.job import dispatch
from podocr.job.cluster import ClusterHandle, start_cluster
from podocr.job.exitcodes import InfrastructureError, InvalidInput, JobError
from podocr.job.partition import JobContext, provider_of, warm_up

log = logging.getLogger(__name__)


@dataclass
class Processed:
    outcome: dispatch.Outcome
    cluster: dict[str, Any]
    model: dict[str, Any]
    durations: dict[str, float] = field(default_factory=dict)
    closing: threading.Thread | None = None  # the cluster's shutdown, still running

    def wait_closed(self) -> None:
        """Return once the cluster this phase started has shut down."""
        if self.closing is not None:
            self.closing.join()

    def __enter__(self) -> Processed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait_closed()


def partition_deadline(cfg: PodocrConfig) -> float:
    """`job.partition_deadline_s`, or its automatic value: a base plus a per-photo allowance."""
    job = cfg.job
    if job.partition_deadline_s > 0:
        return float(job.partition_deadline_s)
    return job.partition_deadline_base_s + job.partition_size * job.partition_deadline_per_photo_s


def process(ctx: JobContext, todo: list[int], bounds: list[tuple[int, int]], echo: Any) -> Processed:
    cfg = ctx.cfg
    cluster: ClusterHandle | None = None
    t0 = time.perf_counter()
    try:
        cluster = start_cluster(cfg, max(1, len(todo)))
        ctx = JobContext(
            cfg,
            ctx.run_id,
            ctx.date,
            ctx.staging_uri,
            ctx.manifest_uri,
            ctx.images_root,
            cluster.intra_op_threads,
        )
        if cluster.dashboard_link:
            echo(f"dashboard: {cluster.dashboard_link}")
        t_warm = time.perf_counter()
        infos = _warm_up(cluster, ctx)
        t_process = time.perf_counter()
        outcome = _run(cluster, ctx, todo, bounds)
        t_done = time.perf_counter()
        processed = Processed(
            outcome,
            {
                **cluster.describe(),
                "restarts": dict(outcome.restarts),
                "worker_peak_rss_mib": max(
                    (int(s.get("peak_rss_mib") or 0) for s in outcome.done.values()), default=None
                ),
            },
            _model_info(infos),
            {
                "cluster_start_s": round(t_warm - t0, 3),
                "warm_up_s": round(t_process - t_warm, 3),
                "process_s": round(t_done - t_process, 3),
            },
        )
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    processed.closing = _close_in_background(cluster) if cluster is not None else None
    return processed


def _close_in_background(cluster: ClusterHandle) -> threading.Thread:
    def close() -> None:
        try:
            cluster.close()
        except Exception as exc:  # the day's work is done; a cluster that shuts down untidily is only logged
            log.warning("closing the Dask cluster failed: %s: %s", type(exc).__name__, exc)

    thread = threading.Thread(target=close, name="podocr-cluster-close")
    thread.start()
    return thread


def _warm_up(cluster: ClusterHandle, ctx: JobContext) -> dict[str, Any]:
    """Load the models on every worker before submitting work: a missing model is exit 4, not 1,000 errors."""
    from podocr.ocr.registry import ModelError, Registry

    try:
        Registry.load(ctx.cfg.models.registry or None).spec(ctx.cfg.models.set)
    except ModelError as exc:
        raise InvalidInput(str(exc)) from exc
    try:
        if cluster.client is None:
            return {"local": warm_up(ctx)}
        return dict(cluster.client.run(warm_up, ctx))
    except Exception as exc:
        raise InfrastructureError(f"workers could not load the models: {type(exc).__name__}: {exc}") from exc


def _run(
    cluster: ClusterHandle, ctx: JobContext, todo: list[int], bounds: list[tuple[int, int]]
) -> dispatch.Outcome:
    from tqdm import tqdm

    job = ctx.cfg.job
    bar = tqdm(
        total=sum(bounds[p][1] for p in todo), unit="photo", disable=not job.progress, dynamic_ncols=True
    )

    def on_done(partition: int, summary: dict[str, Any] | None) -> None:
        bar.update(bounds[partition][1])
        if summary is None:
            bar.write(f"partition {partition} FAILED")

    try:
        if cluster.client is None:
            return dispatch.run_in_process(ctx, todo, job.retries, on_done)
        deadline = partition_deadline(ctx.cfg)
        return dispatch.run_on_cluster(cluster.client, ctx, todo, job.retries, deadline, on_done)
    except JobError:
        raise
    except (OSError, TimeoutError) as exc:
        raise InfrastructureError(f"lost the cluster: {type(exc).__name__}: {exc}") from exc
    finally:
        bar.close()


def _model_info(infos: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = next(iter(infos.values()), {})
    return {
        "set": first.get("model_set"),
        "versions": first.get("sha256"),
        "provider": provider_of(first),
        "backend": first.get("backend"),
        "shape_profile": first.get("shape_profile"),
        "warm_up": first.get("warm_up"),  # shapes run once at worker start, and how long that took
        "workers": sorted(str(i.get("worker")) for i in infos.values()),
    }
