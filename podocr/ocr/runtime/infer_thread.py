"""One inference thread per worker: every model call of the pipeline runs on it, in the order submitted.

Why: PyTorch keeps cuDNN's execution plans, the current CUDA stream and captured CUDA graphs per thread, so a
worker whose 8 task threads each call the models pays every first-call cost 8 times and never warms up. Routing
every call through one thread keeps that state in one place, warmed once; decoding, cropping and
post-processing stay on the callers' threads and overlap with the GPU. The same wrapper counts the input
shapes each model sees, which is how the closed shape set is checked (`info["shapes"]`, the census benchmark).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from podocr.ocr.runtime.engine import Engine

T = TypeVar("T")


class InferenceClosed(RuntimeError):
    """A model call was submitted after the inference thread was closed."""


class InferenceThread:
    """A single-thread executor with the guarantees the pipeline needs.

    Order: calls run one at a time in submission order (FIFO). Errors: an exception raised by a call is
    re-raised in the caller, with the call's traceback. Re-entrancy: a call made from the inference thread itself
    runs inline instead of deadlocking. Shutdown: `close()` lets submitted calls finish, then joins the thread;
    later submissions raise `InferenceClosed`.
    """

    def __init__(self, name: str = "podocr-infer") -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=self._mark)
        self._ident: int | None = None
        self._closed = False
        self._lock = threading.Lock()

    def _mark(self) -> None:
        self._ident = threading.get_ident()

    @property
    def on_thread(self) -> bool:
        """True when the caller is the inference thread itself."""
        return self._ident is not None and threading.get_ident() == self._ident

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn(*args)` on the inference thread; the future carries its result or exception."""
        if self.on_thread:
            done: Future[T] = Future()
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)
            return done
        with self._lock:
            if self._closed:
                raise InferenceClosed(f"{self.name}: closed, no more model calls")
            return self._pool.submit(fn, *args)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the inference thread, waited for; its exception is raised here."""
        return self.submit(fn, *args).result()

    def close(self, wait: bool = True) -> None:
        """Finish what was submitted, then stop the thread. Idempotent."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> InferenceThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadedEngine:
    """An engine whose every `run` executes on an `InferenceThread`; it also counts the shapes it is fed."""

    def __init__(self, inner: Engine, thread: InferenceThread, role: str) -> None:
        self.inner, self.thread, self.role = inner, thread, role
        self.provider: str = inner.provider
        self.input_name: str = inner.input_name
        self.spatial_step: int = int(getattr(inner, "spatial_step", 1))  # the input grid it pads to (det.py)
        self.shapes: Counter[tuple[int, ...]] = Counter()

    @property
    def info(self) -> dict[str, Any]:
        """The inner engine's info (torch backend), plus the shapes seen so far."""
        base = dict(getattr(self.inner, "info", {}) or {})
        base["shapes"] = {"distinct": len(self.shapes), "calls": sum(self.shapes.values())}
        return base

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.thread.call(self._run, x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """On the inference thread: counting here needs no lock."""
        self.shapes[tuple(int(d) for d in x.shape)] += 1
        return self.inner.run(x)

    def run_tensor(self, x: Any) -> Any:
        """The device read path's call (ocr/device): a device tensor in and out, on the inference thread."""
        return self.thread.call(self._run_tensor, x)

    def _run_tensor(self, x: Any) -> Any:
        self.shapes[tuple(int(d) for d in x.shape)] += 1
        return self.inner.run_tensor(x)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"ThreadedEngine({self.inner!r} on {self.thread.name})"
