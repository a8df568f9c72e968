"""Fetch many photos on a few threads while the caller decodes and OCRs the ones already here.

Reading from S3 is latency-bound and the OCR is CPU-bound, so a worker overlaps the two. The reads are bounded
twice: `threads` run at once, and at most `max_in_flight` results exist that the caller has not yet taken
(running or finished), so memory stays within max_in_flight × io.max_bytes however long the partition and
however slow the consumer. Every index is yielded exactly once, as bytes or a PhotoError, with its own read time.

A read that does not return within `timeout_s` is yielded as a `timeout` error and abandoned: Python cannot
stop a thread blocked in a system call (a stalled socket, an NFS mount gone away), so each read runs on its own
daemon thread, which can be left behind without holding up the partition or the process's exit. Abandoned
reads are bounded: past `max_abandoned` in one call the storage itself is stuck, and `StuckReads` fails the
partition (it is retried, then reported) rather than leaking a thread per photo for the rest of the day.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Sequence
from typing import NamedTuple, Protocol

from podocr.io.errors import ErrorCode, PhotoError

FetchResult = bytes | PhotoError
THREAD_PREFIX = "podocr-fetch"


class Fetcher(Protocol):
    """What fetch needs from a store (ImageStore): resolve + read one manifest URI, raising PhotoError."""

    def fetch(self, uri: str) -> bytes: ...


class Fetched(NamedTuple):
    position: int  # the URI's index in the list
    result: FetchResult
    seconds: float  # this read's wall time (the time limit, for an abandoned one)


class StuckReads(RuntimeError):
    """More reads were abandoned past their time limit than one partition may leave behind."""


def fetch_many(
    store: Fetcher,
    uris: Sequence[str],
    threads: int,
    max_in_flight: int = 0,
    timeout_s: float = 0.0,
    max_abandoned: int = 0,
    abandoned: list[threading.Thread] | None = None,
) -> Generator[Fetched, None, None]:
    """A `Fetched` for every URI, in completion order; `max_in_flight` 0 = 2 × threads, `timeout_s` 0 = none.

    `max_abandoned` 0 = `threads`; the threads of abandoned reads are appended to `abandoned` when given (the
    caller reports those still alive). Closing the iterator early (break, exception in the caller) starts nothing
    more and waits for the reads still running, each at most until its own time limit.
    """
    reads = _Reads(store, uris, threads, _window(threads, max_in_flight), timeout_s)
    if abandoned is not None:
        reads.abandoned_threads = abandoned
    limit = max_abandoned or threads
    try:
        reads.fill()
        for _ in range(len(uris)):
            while (item := reads.next_result()) is None:
                if reads.abandoned > limit:
                    raise StuckReads(
                        f"{reads.abandoned} photo reads ran past {timeout_s:g}s and were abandoned "
                        f"(limit {limit}): the storage is not answering"
                    )
            yield item
    finally:
        reads.close()


class _Reads:
    """The reads of one `fetch_many` call: each on its own daemon thread, new ones started as results are taken."""

    def __init__(
        self, store: Fetcher, uris: Sequence[str], threads: int, window: int, timeout_s: float
    ) -> None:
        self.store, self.uris, self.threads, self.window, self.timeout_s = (
            store,
            uris,
            threads,
            window,
            timeout_s,
        )
        self.lock = threading.Lock()
        self.results: queue.SimpleQueue[Fetched] = queue.SimpleQueue()
        self.running: dict[int, tuple[threading.Thread, float]] = {}
        self.started: list[tuple[threading.Thread, float]] = []  # every read thread, finished ones included
        self.untaken = 0  # started and not yet yielded: running, finished, or abandoned with a timeout result
        self.next_index = 0
        self.abandoned = 0
        self.abandoned_threads: list[threading.Thread] = []
        self.closed = False

    def fill(self) -> None:
        with self.lock:
            while (
                not self.closed
                and self.next_index < len(self.uris)
                and len(self.running) < self.threads
                and self.untaken < self.window
            ):
                index = self.next_index
                thread = threading.Thread(target=self._read, args=(index,), name=f"{THREAD_PREFIX}-{index}")
                thread.daemon = True
                self.running[index] = (thread, time.monotonic())
                self.started.append(self.running[index])
                self.untaken += 1
                self.next_index += 1
                thread.start()

    def _read(self, index: int) -> None:
        t0 = time.perf_counter()
        result = _fetch_one(self.store, self.uris[index])
        with self.lock:
            if self.running.pop(index, None) is None:
                return  # abandoned: its timeout result was already queued
            self.results.put(Fetched(index, result, time.perf_counter() - t0))
        self.fill()

    def next_result(self) -> Fetched | None:
        """The next finished read, or None after abandoning the reads that ran past their time limit."""
        wait = None
        if self.timeout_s > 0:
            with self.lock:
                starts = [started for _, started in self.running.values()]
            if starts:
                wait = max(0.0, min(starts) + self.timeout_s - time.monotonic())
        try:
            item = self.results.get(timeout=wait)
        except queue.Empty:
            self._abandon_overdue()
            return None
        with self.lock:
            self.untaken -= 1
        self.fill()
        return item

    def _abandon_overdue(self) -> None:
        now = time.monotonic()
        with self.lock:
            for index, (thread, started) in list(self.running.items()):
                if now - started >= self.timeout_s:
                    del self.running[index]
                    self.abandoned += 1
                    self.abandoned_threads.append(thread)
                    self.results.put(
                        Fetched(index, _timed_out(self.uris[index], self.timeout_s), self.timeout_s)
                    )

    def close(self) -> None:
        """Start nothing more; wait for every read thread not abandoned, including those that have handed in
        their result and are only returning (a thread leaves `running` before it ends)."""
        with self.lock:
            self.closed = True
            abandoned = {id(t) for t in self.abandoned_threads}
            waiting = [(t, started) for t, started in self.started if id(t) not in abandoned]
        for thread, started in waiting:
            thread.join(
                None if self.timeout_s <= 0 else max(FINISHING_S, started + self.timeout_s - time.monotonic())
            )


FINISHING_S = 1.0  # at most this long for a read that has handed in its result to return


def _window(threads: int, max_in_flight: int) -> int:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return max(threads, max_in_flight or 2 * threads)


def _timed_out(uri: str, timeout_s: float) -> PhotoError:
    from podocr.io.storage import redact_uri

    return PhotoError(
        ErrorCode.TIMEOUT, f"read did not finish within {timeout_s:g}s (abandoned): {redact_uri(uri)}"
    )


def _fetch_one(store: Fetcher, uri: str) -> FetchResult:
    """Never raises: a PhotoError is a result, anything else is a bug reported as INTERNAL for this photo."""
    try:
        return store.fetch(uri)
    except PhotoError as exc:
        return exc
    except Exception as exc:
        return PhotoError(ErrorCode.INTERNAL, f"fetch raised {type(exc).__name__}: {str(exc)[:200]}")
