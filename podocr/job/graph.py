"""The Dask graph: the staged manifest as a Dask DataFrame (one partition per row group, stable index), mapped
through `process_frame`, computed as one future per partition so each can be retried, tracked and reported.

Tasks carry partition numbers and the small JobContext; rows are read by the task itself from the staged
manifest, and results are written by the task to storage, so neither rows nor models pass through the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from podocr.job.partition import SUMMARY_META, JobContext, load_rows, process_frame, run_partition


@dataclass
class Outcome:
    """What happened to the partitions submitted in this invocation."""

    done: dict[int, dict[str, Any]] = field(default_factory=dict)  # partition → summary row
    failed: dict[int, str] = field(default_factory=dict)  # partition → last error


def results_frame(ctx: JobContext, partitions: list[int]) -> Any:
    """manifest partitions (from_map over indices) → process_frame (map_partitions): a Dask DataFrame of summaries."""
    import dask.dataframe as dd

    from podocr.io.manifest import COLUMNS

    meta = pd.DataFrame({name: pd.Series([], dtype="str") for name in COLUMNS})
    meta["partition"] = pd.Series([], dtype="int64")
    manifest = dd.from_map(
        load_rows,
        partitions,
        ctx=ctx,
        meta=meta,
        label="podocr-manifest",
        enforce_metadata=False,
    )
    return manifest.map_partitions(process_frame, ctx, meta=SUMMARY_META, enforce_metadata=False)


def run_on_cluster(
    client: Any,
    ctx: JobContext,
    partitions: list[int],
    retries: int,
    on_done: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> Outcome:
    """Compute every partition as its own future (with `retries`), collecting summaries and failures."""
    from distributed import as_completed

    outcome = Outcome()
    if not partitions:
        return outcome
    delayed = results_frame(ctx, partitions).to_delayed()
    futures = client.compute(delayed, retries=retries)
    index_of = {future.key: p for future, p in zip(futures, partitions, strict=True)}
    for future in as_completed(futures, loop=client.loop):
        p = index_of[future.key]
        if future.status == "finished":
            summary = {str(k): v for k, v in future.result().iloc[0].to_dict().items()}
            outcome.done[p] = summary
            if on_done:
                on_done(p, summary)
        else:
            outcome.failed[p] = _error_text(future)
            if on_done:
                on_done(p, None)
        future.release()
    return outcome


def run_in_process(
    ctx: JobContext,
    partitions: Iterable[int],
    retries: int,
    on_done: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> Outcome:
    """The no-Dask path: the same partition function, one after another, with the same retry count."""
    outcome = Outcome()
    for p in partitions:
        for attempt in range(retries + 1):
            try:
                outcome.done[p] = {str(k): v for k, v in run_partition(p, ctx).iloc[0].to_dict().items()}
                outcome.failed.pop(p, None)
                break
            except Exception as exc:
                outcome.failed[p] = f"{type(exc).__name__}: {exc} (attempt {attempt + 1})"
        if on_done:
            on_done(p, outcome.done.get(p))
    return outcome


def _error_text(future: Any) -> str:
    try:
        exc = future.exception()
    except Exception as inner:  # cancelled, or the scheduler went away
        return f"{type(inner).__name__}: {inner}"
    return f"{type(exc).__name__}: {exc}"
