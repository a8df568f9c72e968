"""`podocr batch` for one day: validate → plan → process → commit, or exit non-zero.

Order matters and is the whole point: the manifest is validated before anything is written; every partition
lands in this run's staging folder; the day is published only when every partition succeeded and the part row
counts add up to the manifest's, with `_SUCCESS` written after the parts (io/publish.py). A failed run leaves
the previous day untouched and its staged parts in place for `--resume`, which redoes only partitions without a
complete part — provided the manifest bytes, partition size and pipeline settings are the same (`_run.json`).
Command-line glue (logging, backfill ranges, printing) is in job/cli.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from podocr.config import PodocrConfig
from podocr.io import manifest as manifest_io
from podocr.io import sink
from podocr.job.cache import config_key
from podocr.job.cluster import usable_cores
from podocr.job.commit import commit, now
from podocr.job.exitcodes import PartialFailure, storage_step
from podocr.job.partition import JobContext
from podocr.job.plan import already_committed, plan_run
from podocr.job.process import process
from podocr.job.sizing import size_job
from podocr.job.validate import absolute, output_storage, validated_manifest

log = logging.getLogger(__name__)


def run_batch(
    cfg: PodocrConfig,
    date: str,
    manifest_uri: str | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run one day; returns the committed `_SUCCESS` content, raises JobError (with its exit code) otherwise."""
    started_at, t0 = now(), time.perf_counter()
    job = cfg.job
    input_root = absolute(job.input)
    images_root = absolute(job.images_root) if job.images_root else input_root
    output_root = absolute(job.output)

    # validate
    manifest = validated_manifest(cfg, date, input_root, manifest_uri)
    sizing = size_job(cfg, manifest.rows, usable_cores())
    cfg = sizing.apply(cfg)
    job = cfg.job
    bounds = manifest_io.partition_bounds(manifest.rows, job.partition_size)
    validate_s = time.perf_counter() - t0
    fs, out_path = output_storage(output_root, cfg)
    layout = sink.DayLayout(out_path.rstrip("/"), date)

    # plan
    key = config_key(cfg)
    if resume and (committed := already_committed(fs, layout, manifest.sha256, key)):
        echo(f"{date} is already committed by run {committed['run_id']} from this manifest; nothing to do")
        return committed
    identity = {
        "manifest_sha256": manifest.sha256,
        "partition_size": job.partition_size,
        "model_set": cfg.models.set,
        "config_key": key,
        "images_root": images_root,
    }
    plan = plan_run(fs, layout, manifest, bounds, identity, resume, started_at)
    staging_uri = f"{output_root}/{sink.STAGING_DIR}/date={date}/run={plan.run_id}"
    staged_manifest = f"{staging_uri}/{sink.STAGED_MANIFEST}"
    if not storage_step(manifest_io.is_staged, staged_manifest, len(bounds), job.partition_size, cfg.io):
        storage_step(manifest_io.stage_partitions, manifest, staged_manifest, job.partition_size, cfg.io)
    echo(
        f"run {plan.run_id}: {manifest.rows} photos in {len(bounds)} partitions of ≤{job.partition_size}"
        + (f"; resuming — {len(plan.reused)} done, {len(plan.todo)} to do" if plan.resumed else "")
    )

    # process
    ctx = JobContext(cfg, plan.run_id, date, staging_uri, staged_manifest, images_root)
    attempt: dict[str, Any] = {"started_at": started_at, "partitions": plan.todo}
    with process(ctx, plan.todo, bounds, echo) as processed:  # the cluster shuts down while the day commits
        outcome = processed.outcome
        attempt.update(cluster=processed.cluster, finished_at=now(), failed=sorted(outcome.failed))
        plan.meta.setdefault("attempts", []).append(attempt)
        storage_step(sink.write_json_atomic, fs, plan.meta, f"{layout.staging(plan.run_id)}/{sink.RUN_META}")
        if outcome.failed:
            shown = "; ".join(f"partition {p}: {err}" for p, err in sorted(outcome.failed.items())[:3])
            raise PartialFailure(
                f"{len(outcome.failed)} of {len(bounds)} partitions failed after {job.retries} retries "
                f"({shown}). "
                f"Nothing was committed; completed parts are kept in {staging_uri}. "
                f"Rerun with --resume to redo only the failed partitions."
            )

        # commit
        processed_rows = sum(int(s["rows"]) for s in outcome.done.values())
        process_s = processed.durations["process_s"]
        stats = {
            "date": date,
            "output": f"{output_root}/{sink.RESULTS_DIR}/date={date}",
            "photos_processed": processed_rows,
            "images_root": images_root,
            "photos_per_s": round(processed_rows / process_s, 3) if process_s > 0 else None,
            "photos_per_min": round(60 * processed_rows / process_s, 1) if process_s > 0 else None,
            "model": processed.model,
            "cluster": processed.cluster,
            "sizing": sizing.describe(),
            "durations": {"validate_s": round(validate_s, 3), **processed.durations},
            "started_at": started_at,
        }
        success = commit(fs, layout, plan, manifest, bounds, stats, t0)
        if job.report:
            _write_report(output_root, date, cfg, images_root, echo)
        return success


def _write_report(
    output_root: str, date: str, cfg: PodocrConfig, images_root: str, echo: Callable[[str], None]
) -> None:
    """The HTML report next to `_SUCCESS`; the day is already committed, so a failure here is only a warning."""
    from podocr.report import write_report

    try:
        echo(f"report: {write_report(output_root, date, cfg.io, None, images_root)}")
    except Exception as exc:
        log.warning("the day is committed but its HTML report failed: %s: %s", type(exc).__name__, exc)
