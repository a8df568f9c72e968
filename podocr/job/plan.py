"""The plan phase: which run this is (new, or the staged one `--resume` continues) and which partitions to do.

A resumed run must be the same run: same manifest bytes, partition size, model set, images root and
result-changing settings (`_run.json`), else exit 2. Partitions whose staged part is complete are reused.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from podocr.io import manifest as manifest_io
from podocr.io import sink
from podocr.job.exitcodes import InvalidInput, storage_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    resumed: bool
    todo: list[int]  # partitions this invocation processes
    reused: list[int]  # partitions whose staged part from an earlier attempt is kept
    meta: dict[str, Any]  # the run's _run.json


def plan_run(
    fs: Any,
    layout: sink.DayLayout,
    manifest: manifest_io.Manifest,
    bounds: list[tuple[int, int]],
    identity: dict[str, Any],
    resume: bool,
    started_at: str,
) -> RunPlan:
    """Continue the latest staged run (with `resume`) or start a new one, writing its `_run.json`."""
    if resume:
        previous = storage_step(latest_run, fs, layout)
        if previous is not None:
            changed = [k for k, v in identity.items() if previous.get(k) != v]
            if changed:
                detail = ", ".join(f"{k}: {previous.get(k)!r} → {identity[k]!r}" for k in changed)
                raise InvalidInput(
                    f"cannot resume run {previous['run_id']}: {detail}. Rerun without --resume to start afresh."
                )
            staged = storage_step(sink.staged_parts, fs, layout.staging(previous["run_id"]))
            reused = sorted(
                p for p, path in staged.items() if p < len(bounds) and part_rows(fs, path) == bounds[p][1]
            )
            todo = [p for p in range(len(bounds)) if p not in set(reused)]
            return RunPlan(previous["run_id"], True, todo, reused, previous)
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
    storage_step(sink.write_json_atomic, fs, meta, f"{layout.staging(run_id)}/{sink.RUN_META}")
    return RunPlan(run_id, False, list(range(len(bounds))), [], meta)


def already_committed(
    fs: Any, layout: sink.DayLayout, manifest_sha256: str, key: str
) -> dict[str, Any] | None:
    """The day's `_SUCCESS` when it was committed from this manifest with these settings and nothing is staged."""
    if storage_step(latest_run, fs, layout) is not None:
        return None
    committed = storage_step(sink.read_json, fs, f"{layout.results}/{sink.SUCCESS}")
    if committed is None or committed.get("manifest", {}).get("sha256") != manifest_sha256:
        return None
    return committed if committed.get("config_key") == key else None


def latest_run(fs: Any, layout: sink.DayLayout) -> dict[str, Any] | None:
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


def part_rows(fs: Any, path: str) -> int | None:
    """A staged part's row count; None when it cannot be read (the partition is redone)."""
    try:
        return sink.part_rows(fs, path)
    except Exception:
        return None
