"""The commit phase: check that the staged run is whole, write its `_SUCCESS` document, publish the day.

Nothing is published unless every partition has a staged part whose row count is its manifest slice's and the
total equals the manifest's. The `_SUCCESS` counts are computed from the staged Parquet itself, not from what
workers said. Publishing is io/publish.py's protocol; afterwards, staging left by older runs of the day goes.
"""

from __future__ import annotations

import time
from typing import Any

from podocr.io import manifest as manifest_io
from podocr.io import sink
from podocr.io.publish import publish_day
from podocr.job.exitcodes import PartialFailure, storage_step
from podocr.job.plan import RunPlan, part_rows


def commit(
    fs: Any,
    layout: sink.DayLayout,
    plan: RunPlan,
    manifest: manifest_io.Manifest,
    bounds: list[tuple[int, int]],
    stats: dict[str, Any],
    t0: float,
) -> dict[str, Any]:
    """Publish the staged run as the day; returns the `_SUCCESS` document. `t0`: when the run started."""
    t_commit = time.perf_counter()
    parts = staged_whole(fs, layout, plan, manifest, bounds)
    counts = storage_step(
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
        "rows": manifest.rows,
        "counts": {name: counts[name] for name in ("status", "error_code", "verification")},
        "resumed": plan.resumed,
        "partitions_reused": plan.reused,
        "attempts": plan.meta.get("attempts", []),
        "config_key": plan.meta["config_key"],
    }
    durations = success["durations"]
    durations["commit_s"] = round(time.perf_counter() - t_commit, 3)
    success["finished_at"] = now()
    durations["total_s"] = round(time.perf_counter() - t0, 3)
    success["end_to_end_photos_per_s"] = round(stats["photos_processed"] / durations["total_s"], 3)
    success = storage_step(publish_day, fs, layout, plan.run_id, parts, success)
    storage_step(drop_older_runs, fs, layout, plan.run_id)
    return success


def staged_whole(
    fs: Any,
    layout: sink.DayLayout,
    plan: RunPlan,
    manifest: manifest_io.Manifest,
    bounds: list[tuple[int, int]],
) -> dict[int, str]:
    """{partition: staged part} when every partition is there with its row count; PartialFailure otherwise."""
    parts = storage_step(sink.staged_parts, fs, layout.staging(plan.run_id))
    missing = [p for p in range(len(bounds)) if p not in parts]
    rows = {p: part_rows(fs, parts[p]) for p in parts if p < len(bounds)}
    wrong = [p for p, n in rows.items() if n != bounds[p][1]]
    total = sum(n or 0 for n in rows.values())
    if missing or wrong or total != manifest.rows:
        raise PartialFailure(
            f"refusing to commit run {plan.run_id}: {total} rows staged for {manifest.rows} manifest rows "
            f"(missing partitions {missing[:10]}, wrong row counts {wrong[:10]}); rerun with --resume"
        )
    return {p: parts[p] for p in range(len(bounds))}


def drop_older_runs(fs: Any, layout: sink.DayLayout, run_id: str) -> None:
    """Staging left by earlier, superseded runs of the day (crashed ones)."""
    if not fs.isdir(layout.staging_day):
        return
    fs.invalidate_cache(layout.staging_day)
    for folder in fs.ls(layout.staging_day, detail=False):
        name = folder.rsplit("/", 1)[-1]
        if name.startswith("run=") and name[4:] < run_id:
            fs.rm(folder, recursive=True)


def now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("podocr")
    except PackageNotFoundError:
        return "unknown"
