"""Partitions onto the cluster: the staged manifest as a Dask DataFrame mapped through the OCR task
(`from_map` → `map_partitions`), computed as one future per partition, gathered as they finish, watched against
a deadline.

Tasks carry a partition number and the small JobContext; rows are read by the task itself from the staged
manifest and written by it to storage, so neither rows nor models pass through the scheduler. Partitions start
in order (priority = −index), so the progress bar and the staged parts fill from the front.

The watchdog (driver side, polled while gathering) is what keeps a day from stalling for ever: a partition
still processing `deadline_s` after it started on a worker has that worker restarted through its nanny, and
Dask runs it again elsewhere; after `retries` such restarts it is cancelled and reported failed (exit 3).
A partition that finished but left abandoned calls running (`stuck_threads`) also gets its worker restarted,
to reclaim them. Every worker the scheduler lost during the run (ours, or a nanny's restart over the memory
limit, or a crash) is counted in `Outcome.restarts`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from podocr.job.partition import SUMMARY_META, JobContext, load_frame, process_frame, run_partition

log = logging.getLogger(__name__)
OnDone = Callable[[int, dict[str, Any] | None], None]


@dataclass
class Outcome:
    """What happened to the partitions submitted in this invocation."""

    done: dict[int, dict[str, Any]] = field(default_factory=dict)  # partition → summary
    failed: dict[int, str] = field(default_factory=dict)  # partition → last error
    restarts: dict[str, int] = field(default_factory=dict)  # why → workers restarted or lost

    def count_restart(self, why: str, n: int = 1) -> None:
        if n > 0:
            self.restarts[why] = self.restarts.get(why, 0) + n


_ORDER_CHUNK = 16
"""Partitions per graph submitted together. Dask orders the independent partitions of one graph as it likes (a
day used to run back to front); graphs of a few partitions, each with a lower priority than the one before, make
a day start at its front while the graph stays cheap to build for thousands of partitions."""


def results_frame(ctx: JobContext, partitions: list[int]) -> Any:
    """manifest partitions (from_map over their numbers) → process_frame (map_partitions): a frame of summaries."""
    import dask.dataframe as dd

    from podocr.io.manifest import COLUMNS

    meta = pd.DataFrame({name: pd.Series([], dtype=object) for name in COLUMNS})
    meta["partition"] = pd.Series([], dtype="int64")
    manifest = dd.from_map(load_frame, partitions, ctx=ctx, meta=meta, enforce_metadata=False)
    return manifest.map_partitions(process_frame, ctx, meta=SUMMARY_META, enforce_metadata=False)


def run_on_cluster(
    client: Any,
    ctx: JobContext,
    partitions: list[int],
    retries: int,
    deadline_s: float,
    on_done: OnDone | None = None,
    poll_s: float = 1.0,
) -> Outcome:
    """Run every partition as its own future (Dask `retries` for exceptions), watched by the deadline."""
    from distributed import as_completed

    outcome = Outcome()
    if not partitions:
        return outcome
    removed_before = _workers_removed(client)
    futures: dict[int, Any] = {}
    for n, start in enumerate(range(0, len(partitions), _ORDER_CHUNK)):
        chunk = partitions[start : start + _ORDER_CHUNK]
        delayed = results_frame(ctx, chunk).to_delayed()
        futures.update(zip(chunk, client.compute(delayed, retries=retries, priority=-n), strict=True))
    partition_of = {f.key: p for p, f in futures.items()}
    watchdog = _Watchdog(client, sorted({_name(k) for k in partition_of}), deadline_s, retries, outcome)
    pending = as_completed(list(futures.values()), loop=client.loop)
    try:
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            for future in batch:
                if future.status in ("finished", "error", "cancelled"):
                    p = partition_of[future.key]
                    _collect(future, p, watchdog, outcome, on_done)
                    # Let go of it at once: a held future keeps its result on the worker, and a worker lost
                    # later (restarted, killed over memory) would have every partition it ever ran recomputed.
                    futures.pop(p).release()
                else:  # its result was lost with a restarted worker before we took it: Dask recomputes it
                    pending.add(future)
            watchdog.check(futures, partition_of, poll_s)
            if not batch:
                time.sleep(min(0.1, poll_s))
    finally:
        for future in futures.values():
            future.release()
    outcome.count_restart("lost", _workers_removed(client) - removed_before - watchdog.restarted)
    return outcome


def _collect(future: Any, p: int, watchdog: _Watchdog, outcome: Outcome, on_done: OnDone | None) -> None:
    if future.status == "finished":
        summary = dict(future.result()["summary"].iloc[0])
        outcome.done[p] = summary
        if summary.get("stuck_threads") and summary.get("worker_address"):
            watchdog.restart(str(summary["worker_address"]), "stuck_threads")
    else:
        outcome.failed[p] = watchdog.gave_up.get(p) or _error_text(future)
    if on_done:
        on_done(p, outcome.done.get(p))


class _Watchdog:
    """Restarts the worker of a partition running past its deadline; gives up on it after `retries` restarts."""

    def __init__(
        self, client: Any, names: list[str], deadline_s: float, retries: int, outcome: Outcome
    ) -> None:
        self.client, self.names, self.deadline_s, self.retries = client, names, deadline_s, retries
        self.outcome = outcome
        self.started: dict[tuple[str, str], float] = {}  # (task key, worker) → first seen processing there
        self.overruns: dict[int, int] = {}
        self.gave_up: dict[int, str] = {}
        self.restarted = 0
        self.next_check = 0.0

    def check(self, futures: dict[int, Any], partition_of: dict[str, int], poll_s: float) -> None:
        now = time.monotonic()
        if self.deadline_s <= 0 or now < self.next_check:
            return
        self.next_check = now + poll_s
        executing = self.client.run(_executing, self.names, on_error="ignore")
        live = {(_key(key), worker) for worker, keys in executing.items() for key in keys}
        self.started = {kw: t for kw, t in self.started.items() if kw in live}
        for key, worker in sorted(live):
            since = self.started.setdefault((key, worker), now)
            if now - since < self.deadline_s or key not in partition_of:
                continue
            p = partition_of[key]
            self.overruns[p] = self.overruns.get(p, 0) + 1
            log.warning(
                "partition %d ran past its %.0fs deadline on %s; restarting that worker",
                p,
                self.deadline_s,
                worker,
            )
            if self.overruns[p] > self.retries:
                self.gave_up[p] = (
                    f"ran past the partition deadline of {self.deadline_s:g}s on {self.overruns[p]} workers "
                    f"(job.partition_deadline_s); its worker was restarted each time"
                )
                self.client.cancel([futures[p]])
            self.started.pop((key, worker), None)
            self.restart(worker, "deadline")

    def restart(self, worker: str, why: str) -> None:
        try:
            self.client.restart_workers([worker], timeout=60, raise_for_error=False)
        except (
            Exception
        ) as exc:  # no nanny (external worker), or already gone: the scheduler reschedules anyway
            log.warning("could not restart worker %s (%s): %s", worker, why, exc)
            return
        self.restarted += 1
        self.outcome.count_restart(why)


def _executing(names: list[str], dask_worker: Any = None) -> list[Any]:
    """On a worker (its event loop, which answers even while a task's thread is stuck): this run's tasks that
    are executing now. Not the scheduler's "processing", which also counts tasks queued on the worker."""
    return [ts.key for ts in dask_worker.state.executing if _name(ts.key) in names]


def _name(key: Any) -> str:
    """A task key's name: a partition's key is (name, index); keys cross the wire as lists."""
    return str(key[0]) if isinstance(key, (tuple, list)) and key else str(key)


def _key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _workers_removed(client: Any) -> int:
    """How many times the scheduler has removed a worker (restarted, killed over its memory limit, crashed)."""
    try:
        events = client.get_events("all")
    except Exception:  # an external scheduler that keeps no events: restarts we caused are still counted
        return 0
    return sum(1 for _, msg in events if isinstance(msg, dict) and msg.get("action") == "remove-worker")


def run_in_process(
    ctx: JobContext, partitions: Iterable[int], retries: int, on_done: OnDone | None = None
) -> Outcome:
    """The no-Dask path: the same partition function, one after another, with the same retry count.

    No partition deadline here (nothing can stop a call on the driver's own thread); photo time limits apply.
    """
    outcome = Outcome()
    for p in partitions:
        for attempt in range(retries + 1):
            try:
                outcome.done[p] = run_partition(p, ctx)
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
