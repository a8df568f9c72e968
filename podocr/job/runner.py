"""`podocr batch`: validate → stage → process partitions on the cluster → commit the day, or exit non-zero.

Order matters and is the whole point: the manifest is validated before anything is written; every partition
lands in this run's staging folder; the day is replaced only when every partition succeeded and the part row
counts add up to the manifest's; `_SUCCESS` is written last. A failed run leaves the previous day untouched and
its staged parts in place for `--resume`, which redoes only partitions without a complete part — provided the
manifest bytes, partition size and pipeline settings are the same as the run's (`_run.json`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from podocr.config import PodocrConfig
from podocr.io import manifest as manifest_io
from podocr.io import sink
from podocr.io.storage import open_fs
from podocr.job import graph
from podocr.job.cache import config_key
from podocr.job.cluster import ClusterHandle, start_cluster
from podocr.job.exitcodes import ExitCode, InfrastructureError, InvalidInput, JobError, PartialFailure
from podocr.job.partition import JobContext, provider_of, warm_up

log = logging.getLogger(__name__)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    resumed: bool
    todo: list[int]  # partitions this invocation processes
    reused: list[int]  # partitions whose staged part from an earlier attempt is kept
    meta: dict[str, Any]  # the run's _run.json


def run_batch(
    cfg: PodocrConfig,
    date: str,
    manifest_uri: str | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run one day; returns the committed `_SUCCESS` content, raises JobError (with its exit code) otherwise."""
    started_at, t0 = _now(), time.perf_counter()
    job = cfg.job
    input_root = absolute(job.input)
    images_root = absolute(job.images_root) if job.images_root else input_root
    output_root = absolute(job.output)
    manifest = _validated_manifest(cfg, date, input_root, manifest_uri)
    bounds = manifest_io.partition_bounds(manifest.rows, job.partition_size)
    t_validated = time.perf_counter()

    fs, out_path = _storage(output_root, cfg)
    layout = sink.DayLayout(out_path.rstrip("/"), date)
    key = config_key(cfg)
    if resume and _guard(_latest_run, fs, layout) is None:
        committed = _guard(sink.read_json, fs, f"{layout.results}/{sink.SUCCESS}")
        same_input = committed and committed.get("manifest", {}).get("sha256") == manifest.sha256
        if committed and same_input and committed.get("config_key") == key:
            echo(
                f"{date} is already committed by run {committed['run_id']} from this manifest; nothing to do"
            )
            return committed
    plan = _plan(cfg, fs, layout, manifest, bounds, images_root, key, resume, started_at)
    staging_uri = f"{output_root}/{sink.STAGING_DIR}/date={date}/run={plan.run_id}"
    staged_manifest = f"{staging_uri}/{sink.STAGED_MANIFEST}"
    if not _guard(fs.exists, f"{layout.staging(plan.run_id)}/{sink.STAGED_MANIFEST}"):
        _guard(manifest_io.stage_partitions, manifest, staged_manifest, job.partition_size, cfg.io)
    echo(
        f"run {plan.run_id}: {manifest.rows} photos in {len(bounds)} partitions of ≤{job.partition_size}"
        + (f"; resuming — {len(plan.reused)} done, {len(plan.todo)} to do" if plan.resumed else "")
    )

    ctx = JobContext(cfg, plan.run_id, date, staging_uri, staged_manifest, images_root)
    cluster: ClusterHandle | None = None
    attempt: dict[str, Any] = {"started_at": started_at, "partitions": plan.todo}
    infos: dict[str, Any] = {}
    try:
        t_cluster = time.perf_counter()
        cluster = start_cluster(cfg, max(1, len(plan.todo)))
        ctx = JobContext(
            cfg, plan.run_id, date, staging_uri, staged_manifest, images_root, cluster.intra_op_threads
        )
        attempt["cluster"] = cluster.describe()
        if cluster.dashboard_link:
            echo(f"dashboard: {cluster.dashboard_link}")
        t_warm = time.perf_counter()
        infos = _warm_up(cluster, ctx)
        t_process = time.perf_counter()
        outcome = _process(cluster, ctx, plan.todo, bounds, job.retries, job.progress)
        t_processed = time.perf_counter()
    finally:
        if cluster is not None:
            cluster.close()

    attempt.update(finished_at=_now(), failed=sorted(outcome.failed))
    plan.meta.setdefault("attempts", []).append(attempt)
    _guard(sink.write_json_atomic, fs, plan.meta, f"{layout.staging(plan.run_id)}/{sink.RUN_META}")
    if outcome.failed:
        shown = "; ".join(f"partition {p}: {err}" for p, err in sorted(outcome.failed.items())[:3])
        raise PartialFailure(
            f"{len(outcome.failed)} of {len(bounds)} partitions failed after {job.retries} retries ({shown}). "
            f"Nothing was committed; completed parts are kept in {staging_uri}. "
            f"Rerun with --resume to redo only the failed partitions."
        )

    t_commit = time.perf_counter()
    processed_rows = sum(int(s["rows"]) for s in outcome.done.values())
    process_s = t_processed - t_process
    success = _committed(
        fs,
        layout,
        plan,
        manifest,
        bounds,
        {
            "date": date,
            "output": f"{output_root}/{sink.RESULTS_DIR}/date={date}",
            "photos_processed": processed_rows,
            "images_root": images_root,
            "photos_per_s": round(processed_rows / process_s, 3) if process_s > 0 else None,
            "photos_per_min": round(60 * processed_rows / process_s, 1) if process_s > 0 else None,
            "model": _model_info(infos),
            "cluster": attempt["cluster"],
            "durations": {
                "validate_s": round(t_validated - t0, 3),
                "cluster_start_s": round(t_warm - t_cluster, 3),
                "warm_up_s": round(t_process - t_warm, 3),
                "process_s": round(process_s, 3),
            },
            "started_at": started_at,
        },
        t_commit,
        t0,
    )
    if job.report:
        _write_report(output_root, date, cfg, images_root, echo)
    return success


# ---- steps ----------------------------------------------------------------------------------------------------
def _validated_manifest(
    cfg: PodocrConfig, date: str, input_root: str, manifest_uri: str | None
) -> manifest_io.Manifest:
    if cfg.job.partition_size < 1:
        raise InvalidInput(f"--partition-size must be ≥ 1, got {cfg.job.partition_size}")
    try:
        manifest_io.parse_date(date)
        uri = manifest_uri or manifest_io.locate(input_root, date, cfg.io)
        return manifest_io.read_manifest(uri, cfg.io)
    except manifest_io.ManifestError as exc:
        raise InvalidInput(str(exc)) from exc
    except Exception as exc:  # endpoint down, credentials refused, …: not the input's fault
        raise InfrastructureError(f"cannot read the manifest: {type(exc).__name__}: {exc}") from exc


def _storage(output_root: str, cfg: PodocrConfig) -> tuple[Any, str]:
    try:
        fs, path = open_fs(output_root, cfg.io)
        if _SCHEME.match(output_root) and not output_root.startswith("file://"):
            fs.ls(path.split("/", 1)[0])  # the bucket must be reachable before we start
        return fs, path
    except Exception as exc:
        raise InfrastructureError(
            f"cannot reach the output {output_root}: {type(exc).__name__}: {exc}"
        ) from exc


def _plan(
    cfg: PodocrConfig,
    fs: Any,
    layout: sink.DayLayout,
    manifest: manifest_io.Manifest,
    bounds: list[tuple[int, int]],
    images_root: str,
    key: str,
    resume: bool,
    started_at: str,
) -> RunPlan:
    identity = {
        "manifest_sha256": manifest.sha256,
        "partition_size": cfg.job.partition_size,
        "model_set": cfg.models.set,
        "config_key": key,
        "images_root": images_root,
    }
    if resume:
        previous = _guard(_latest_run, fs, layout)
        if previous is not None:
            changed = [k for k, v in identity.items() if previous.get(k) != v]
            if changed:
                detail = ", ".join(f"{k}: {previous.get(k)!r} → {identity[k]!r}" for k in changed)
                raise InvalidInput(
                    f"cannot resume run {previous['run_id']}: {detail}. Rerun without --resume to start afresh."
                )
            folder = layout.staging(previous["run_id"])
            staged = _guard(sink.staged_parts, fs, folder)
            reused = [p for p, path in staged.items() if p < len(bounds) and _rows(fs, path) == bounds[p][1]]
            todo = [p for p in range(len(bounds)) if p not in set(reused)]
            return RunPlan(previous["run_id"], True, todo, sorted(reused), previous)
        log.info("--resume: no incomplete run for %s; starting a new one", layout.date)
    run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    meta = {
        "run_id": run_id,
        "date": layout.date,
        "manifest_uri": manifest.uri,
        "manifest_rows": manifest.rows,
        "partitions": len(bounds),
        **identity,
        "started_at": started_at,
        "attempts": [],
    }
    _guard(sink.write_json_atomic, fs, meta, f"{layout.staging(run_id)}/{sink.RUN_META}")
    return RunPlan(run_id, False, list(range(len(bounds))), [], meta)


def _latest_run(fs: Any, layout: sink.DayLayout) -> dict[str, Any] | None:
    """The newest staged run of the day with a readable _run.json (run ids sort by start time)."""
    if not fs.isdir(layout.staging_day):
        return None
    fs.invalidate_cache(layout.staging_day)
    runs = sorted(
        p for p in fs.ls(layout.staging_day, detail=False) if p.rsplit("/", 1)[-1].startswith("run=")
    )
    for folder in reversed(runs):
        meta = sink.read_json(fs, f"{folder}/{sink.RUN_META}")
        if meta is not None:
            return meta
    return None


def _rows(fs: Any, path: str) -> int | None:
    try:
        return sink.part_rows(fs, path)
    except Exception:  # unreadable part: redo the partition
        return None


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


def _process(
    cluster: ClusterHandle,
    ctx: JobContext,
    todo: list[int],
    bounds: list[tuple[int, int]],
    retries: int,
    progress: bool,
) -> graph.Outcome:
    from tqdm import tqdm

    bar = tqdm(total=sum(bounds[p][1] for p in todo), unit="photo", disable=not progress, dynamic_ncols=True)

    def on_done(partition: int, summary: dict[str, Any] | None) -> None:
        bar.update(bounds[partition][1])
        if summary is None:
            bar.write(f"partition {partition} FAILED")

    try:
        if cluster.client is None:
            return graph.run_in_process(ctx, todo, retries, on_done)
        return graph.run_on_cluster(cluster.client, ctx, todo, retries, on_done)
    except JobError:
        raise
    except (OSError, TimeoutError) as exc:
        raise InfrastructureError(f"lost the cluster: {type(exc).__name__}: {exc}") from exc
    finally:
        bar.close()


def _committed(
    fs: Any,
    layout: sink.DayLayout,
    plan: RunPlan,
    manifest: manifest_io.Manifest,
    bounds: list[tuple[int, int]],
    stats: dict[str, Any],
    t_commit: float,
    t0: float,
) -> dict[str, Any]:
    """Check every partition's part and the total row count, then publish the day with `_SUCCESS` last."""
    folder = layout.staging(plan.run_id)
    parts = _guard(sink.staged_parts, fs, folder)
    missing = [p for p in range(len(bounds)) if p not in parts]
    rows = {p: _rows(fs, parts[p]) for p in parts if p < len(bounds)}
    wrong = [p for p, n in rows.items() if n != bounds[p][1]]
    total = sum(n or 0 for n in rows.values())
    if missing or wrong or total != manifest.rows:
        raise PartialFailure(
            f"refusing to commit run {plan.run_id}: {total} rows staged for {manifest.rows} manifest rows "
            f"(missing partitions {missing[:10]}, wrong row counts {wrong[:10]}); rerun with --resume"
        )
    counts = _guard(
        sink.count_values, fs, [parts[p] for p in sorted(parts)], ["status", "error_code", "verification"]
    )
    success: dict[str, Any] = {
        "run_id": plan.run_id,
        **stats,
        "schema_version": sink.SCHEMA_VERSION,
        "podocr_version": _version(),
        "manifest": {
            "uri": manifest.uri,
            "sha256": manifest.sha256,
            "format": manifest.format,
            "rows": manifest.rows,
        },
        "partition_size": plan.meta["partition_size"],
        "partitions": len(bounds),
        "rows": total,
        "counts": {
            "status": counts["status"],
            "error_code": counts["error_code"],
            "verification": counts["verification"],
        },
        "resumed": plan.resumed,
        "partitions_reused": plan.reused,
        "attempts": plan.meta.get("attempts", []),
        "config_key": plan.meta["config_key"],
    }
    success["durations"]["commit_s"] = round(time.perf_counter() - t_commit, 3)
    success["finished_at"] = _now()
    success["durations"]["total_s"] = round(time.perf_counter() - t0, 3)
    success["end_to_end_photos_per_s"] = round(stats["photos_processed"] / success["durations"]["total_s"], 3)
    staged = {p: parts[p] for p in range(len(bounds))}
    success = _guard(sink.commit_day, fs, layout, plan.run_id, staged, success)
    _guard(_drop_older_runs, fs, layout, plan.run_id)
    return success


def _drop_older_runs(fs: Any, layout: sink.DayLayout, run_id: str) -> None:
    """Staging left by earlier, superseded runs of the day (crashed ones, replaced-day leftovers)."""
    if not fs.isdir(layout.staging_day):
        return
    fs.invalidate_cache(layout.staging_day)
    for folder in fs.ls(layout.staging_day, detail=False):
        name = folder.rsplit("/", 1)[-1]
        if (name.startswith("run=") and name[4:] < run_id) or name.startswith("replaced-"):
            fs.rm(folder, recursive=True)


def _write_report(
    output_root: str, date: str, cfg: PodocrConfig, images_root: str, echo: Callable[[str], None]
) -> None:
    """The HTML report next to `_SUCCESS`; the day is already committed, so a failure here is only a warning."""
    from podocr.report import write_report

    try:
        echo(f"report: {write_report(output_root, date, cfg.io, None, images_root)}")
    except Exception as exc:
        log.warning("the day is committed but its HTML report failed: %s: %s", type(exc).__name__, exc)


def _model_info(infos: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = next(iter(infos.values()), {})
    return {
        "set": first.get("model_set"),
        "versions": first.get("sha256"),
        "provider": provider_of(first),
        "backend": first.get("backend"),
        "workers": sorted(str(i.get("worker")) for i in infos.values()),
    }


# ---- helpers --------------------------------------------------------------------------------------------------
def absolute(uri: str) -> str:
    """URIs as given; local paths made absolute so workers in other processes resolve them identically."""
    if _SCHEME.match(uri):
        return uri.rstrip("/")
    return os.path.abspath(os.path.expanduser(uri)).rstrip("/")


def _guard(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a storage step; storage failures become exit 4 (infrastructure), naming the step."""
    try:
        return fn(*args)
    except JobError:
        raise
    except Exception as exc:
        raise InfrastructureError(f"storage step {fn.__name__} failed: {type(exc).__name__}: {exc}") from exc


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version() -> str:
    try:
        return version("podocr")
    except PackageNotFoundError:
        return "unknown"


# ---- command-line entry -----------------------------------------------------------------------------------------
def setup_cli_logging(cfg: PodocrConfig, verbose: bool = False) -> None:
    """Our log format on stderr; without --verbose, only warnings — Dask's start/stop chatter is not for operators."""
    from podocr.logs import setup_logging

    setup_logging("INFO" if verbose else "WARNING", json_lines=cfg.job.log_json)
    if not verbose and cfg.job.scheduler != "synchronous":
        import distributed  # noqa: F401  (its import configures its loggers at INFO: quiet them after that)

        logging.getLogger("distributed").setLevel(logging.WARNING)


def backfill_dates(
    date: str | None, start: str | None, end: str | None, manifest_uri: str | None
) -> list[str]:
    """The days one `podocr batch` call runs: `--date D`, or every day of `--start S --end E` (inclusive)."""
    import datetime as dt

    if date and (start or end):
        raise ValueError("give either --date or --start/--end, not both")
    if date:
        return [date]
    if not (start and end):
        raise ValueError("give --date, or both --start and --end")
    if manifest_uri:
        raise ValueError("--manifest names one day's manifest; it cannot be used with --start/--end")
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise ValueError(f"invalid --start/--end: {exc}") from exc
    if last < first:
        raise ValueError(f"--end {end} is before --start {start}")
    if (last - first).days > 366:
        raise ValueError("a backfill spans at most 367 days per call")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def batch_main(
    date: str,
    overrides: dict[str, Any],
    manifest_uri: str | None = None,
    resume: bool = False,
    as_json: bool = False,
    verbose: bool = False,
) -> int:
    """`podocr batch`: run, print the summary (or `_SUCCESS` JSON), and return the exit code."""
    import json
    import sys

    from podocr.config import ConfigError
    from podocr.job.summary import format_summary

    try:
        cfg = PodocrConfig.load(overrides=overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    setup_cli_logging(cfg, verbose)
    progress = cfg.job.progress and sys.stderr.isatty()
    cfg.job.progress = progress

    def echo(text: str) -> None:
        print(text, file=sys.stderr if as_json else sys.stdout, flush=True)

    try:
        success = run_batch(cfg, date, manifest_uri=manifest_uri, resume=resume, echo=echo)
    except JobError as exc:
        print(f"error ({exc.exit_code.name.lower().replace('_', ' ')}): {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if as_json:
        print(json.dumps(success, indent=2, default=str))
    else:
        echo(format_summary(success))
    return int(ExitCode.OK)
