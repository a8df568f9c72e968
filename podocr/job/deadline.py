"""A time limit for one call that may never return (a decoder stuck on a hostile file, a native OCR hang).

Python cannot stop a running thread, so the call runs on its own daemon thread and, past its limit, is
abandoned: the caller moves on (the photo becomes a `timeout` row) and the thread is left to finish or not.
Abandoned threads are handed back to the caller, which reports the ones still alive with the partition so the
driver can restart that worker process: the only way to reclaim a thread that is really stuck.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_PREFIX = "podocr-deadline"


class DeadlineExceeded(TimeoutError):
    """The call ran past its limit; `thread` is the abandoned thread still running it."""

    def __init__(self, message: str, thread: threading.Thread) -> None:
        super().__init__(message)
        self.thread = thread


def call_with_deadline(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """`fn()`, or DeadlineExceeded after `timeout_s` seconds (0 = no limit: called on this thread)."""
    if timeout_s <= 0:
        return fn()
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            finished.set()

    thread = threading.Thread(target=run, name=f"{THREAD_PREFIX}-{what}", daemon=True)
    thread.start()
    if not finished.wait(timeout_s):
        raise DeadlineExceeded(f"{what} did not finish within {timeout_s:g}s (abandoned)", thread)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
