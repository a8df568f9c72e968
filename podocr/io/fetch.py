"""Fetch many photos on a small thread pool while the caller decodes and OCRs the ones already here.

Reading from S3 is latency-bound and the OCR is CPU-bound, so a worker overlaps the two. The pool is
bounded twice: `threads` reads run at once, and at most `max_in_flight` results exist that the caller has
not yet taken (running or finished) — so memory stays within max_in_flight × io.max_bytes however long the
partition and however slow the consumer. Every index is yielded exactly once, as bytes or a PhotoError.
"""

from __future__ import annotations

import collections
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from podocr.io.errors import ErrorCode, PhotoError

FetchResult = bytes | PhotoError


class Fetcher(Protocol):
    """What fetch needs from a store (ImageStore): resolve + read one manifest URI, raising PhotoError."""

    def fetch(self, uri: str) -> bytes: ...


def fetch_many(
    store: Fetcher, uris: Sequence[str], threads: int, max_in_flight: int = 0
) -> Generator[tuple[int, FetchResult], None, None]:
    """(index, bytes or PhotoError) for every URI, in completion order; `max_in_flight` 0 = 2 × threads.

    Closing the iterator early (break, exception in the caller) cancels what has not started and waits for
    the reads already running (each bounded by the store's timeouts), so no thread outlives the call.
    """
    window = _window(threads, max_in_flight)
    pending: dict[Future[FetchResult], int] = {}
    next_index = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="podocr-fetch") as pool:
        try:
            while next_index < len(uris) or pending:
                while next_index < len(uris) and len(pending) < window:
                    pending[pool.submit(_fetch_one, store, uris[next_index])] = next_index
                    next_index += 1
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()


def fetch_ordered(
    store: Fetcher, uris: Sequence[str], threads: int, max_in_flight: int = 0
) -> Generator[FetchResult, None, None]:
    """Like `fetch_many` but in input order (a slow read holds back later ones; the window still bounds memory)."""
    window = _window(threads, max_in_flight)
    queue: collections.deque[Future[FetchResult]] = collections.deque()
    next_index = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="podocr-fetch") as pool:
        try:
            while next_index < len(uris) or queue:
                while next_index < len(uris) and len(queue) < window:
                    queue.append(pool.submit(_fetch_one, store, uris[next_index]))
                    next_index += 1
                yield queue.popleft().result()
        finally:
            for future in queue:
                future.cancel()


def _window(threads: int, max_in_flight: int) -> int:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return max(threads, max_in_flight or 2 * threads)


def _fetch_one(store: Fetcher, uri: str) -> FetchResult:
    """Never raises: a PhotoError is a result, anything else is a bug reported as INTERNAL for this photo."""
    try:
        return store.fetch(uri)
    except PhotoError as exc:
        return exc
    except Exception as exc:
        return PhotoError(ErrorCode.INTERNAL, f"fetch raised {type(exc).__name__}: {str(exc)[:200]}")
