"""Partitions onto the cluster: one Dask future per partition, gathered as they finish, watched against a deadline.

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

from podocr.job.partition import JobContext, run_partition

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
    prefix = f"podocr-{ctx.run_id}-"
    futures = {
        p: client.submit(run_partition, p, ctx, key=f"{prefix}p{p}", priority=-p, retries=retries, pure=False)
        for p in partitions
    }
    partition_of = {f.key: p for p, f in futures.items()}
    watchdog = _Watchdog(client, prefix, deadline_s, retries, outcome)
    pending = as_completed(list(futures.values()), loop=client.loop)
    try:
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            for future in batch:
                if future.status in ("finished", "error", "cancelled"):
                    _collect(future, partition_of[future.key], watchdog, outcome, on_done)
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
        summary = dict(future.result())
        outcome.done[p] = summary
        if summary.get("stuck_threads") and summary.get("worker_address"):
            watchdog.restart(str(summary["worker_address"]), "stuck_threads")
    else:
        outcome.failed[p] = watchdog.gave_up.get(p) or _error_text(future)
    if on_done:
        on_done(p, outcome.done.get(p))


class _Watchdog:
    """Restarts the worker of a partition running past its deadline; gives up on it after `retries` restarts."""

    def __init__(self, client: Any, prefix: str, deadline_s: float, retries: int, outcome: Outcome) -> None:
        self.client, self.prefix, self.deadline_s, self.retries = client, prefix, deadline_s, retries
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
        executing = self.client.run(_executing, self.prefix, on_error="ignore")
        live = {(key, worker) for worker, keys in executing.items() for key in keys}
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


def _executing(prefix: str, dask_worker: Any = None) -> list[str]:
    """On a worker (its event loop, which answers even while a task's thread is stuck): this run's tasks that
    are executing now. Not the scheduler's "processing", which also counts tasks queued on the worker."""
    return [
        str(ts.key)
        for ts in dask_worker.state.executing
        if isinstance(ts.key, str) and ts.key.startswith(prefix)
    ]


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
