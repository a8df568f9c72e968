"""The inference thread: one thread runs every model call, in submission order; errors reach the caller;
close() drains and stops it. Model calls here are a real ONNX Runtime classifier (CPU)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from podocr.config import EngineConfig, PodocrConfig
from podocr.ocr.registry import ModelError, resolve
from podocr.ocr.runtime.engine import create_engine
from podocr.ocr.runtime.infer_thread import InferenceClosed, InferenceThread, ThreadedEngine


def test_calls_run_on_one_thread_in_submission_order() -> None:
    seen: list[tuple[int, int]] = []
    with InferenceThread() as thread:
        futures = [
            thread.submit(lambda i: seen.append((i, threading.get_ident())) or i * i, i) for i in range(50)
        ]
        assert [f.result() for f in futures] == [i * i for i in range(50)]
    assert [i for i, _ in seen] == list(range(50))
    idents = {ident for _, ident in seen}
    assert len(idents) == 1 and threading.get_ident() not in idents


def test_calls_from_many_threads_are_serialised_and_each_gets_its_own_result() -> None:
    active, overlaps = [0], [0]
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
        time.sleep(0.001)
        with lock:
            active[0] -= 1
        return i

    with InferenceThread() as thread, ThreadPoolExecutor(8) as callers:
        results = list(callers.map(lambda i: thread.call(work, i), range(200)))
    assert results == list(range(200))
    assert overlaps[0] == 1  # never two model calls at once


def test_an_exception_is_raised_in_the_caller_and_the_thread_keeps_serving() -> None:
    def boom(x: int) -> int:
        raise ValueError(f"bad input {x}")

    with InferenceThread() as thread:
        with pytest.raises(ValueError, match="bad input 7"):
            thread.call(boom, 7)
        assert thread.call(lambda: 42) == 42


def test_close_drains_queued_calls_then_refuses_new_ones() -> None:
    done: list[int] = []
    thread = InferenceThread()
    gate = threading.Event()
    first = thread.submit(gate.wait, 5)
    queued = [thread.submit(done.append, i) for i in range(10)]
    closer = threading.Thread(target=thread.close)
    closer.start()
    time.sleep(0.05)
    assert closer.is_alive()  # close() waits for the queued calls
    gate.set()
    closer.join(5)
    assert not closer.is_alive() and first.result() is True
    assert all(f.done() for f in queued) and done == list(range(10))
    assert thread.closed
    with pytest.raises(InferenceClosed):
        thread.call(lambda: 1)
    thread.close()  # idempotent


def test_a_call_made_from_the_inference_thread_runs_inline() -> None:
    with InferenceThread() as thread:
        assert thread.call(lambda: thread.call(lambda: "inner") + " outer") == "inner outer"


def test_threaded_engine_matches_the_engine_and_counts_shapes() -> None:
    cfg = PodocrConfig()
    try:
        models = resolve(cfg.models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")
    assert models.cls is not None
    engine = create_engine(models.cls, EngineConfig(intra_op_threads=1), "cls")
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1, 1, (n, 3, 48, 192)).astype(np.float32) for n in (1, 4, 4, 2)]
    with InferenceThread() as thread:
        threaded = ThreadedEngine(engine, thread, "cls")
        with ThreadPoolExecutor(4) as callers:
            outs = list(callers.map(threaded.run, xs))
    for x, out in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(out, engine.run(x))
    assert threaded.shapes == {(1, 3, 48, 192): 1, (4, 3, 48, 192): 2, (2, 3, 48, 192): 1}
    assert threaded.provider == engine.provider and threaded.info["shapes"] == {"distinct": 3, "calls": 4}
