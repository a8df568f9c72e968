"""fetch_many: every index exactly once with its own read time, bounded in-flight work, overlap, clean early exit,
and a time limit that turns a read that never returns into a `timeout` row instead of a hung partition."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MotoServer
from faultproxy import Fault, FaultProxy

from podocr.config import IOConfig
from podocr.io.errors import ErrorCode, PhotoError
from podocr.io.fetch import StuckReads, fetch_many
from podocr.io.storage import ImageStore

N_OBJECTS = 24


@pytest.fixture
def local_store(tmp_path: Path) -> tuple[ImageStore, list[str], list[bytes | ErrorCode]]:
    """A local store, a URI list mixing good, missing and disallowed rows, and what each must give."""
    root = tmp_path / "images"
    root.mkdir()
    uris: list[str] = []
    expect: list[bytes | ErrorCode] = []
    for i in range(30):
        if i % 7 == 3:
            uris.append(f"missing-{i}.jpg")
            expect.append(ErrorCode.NOT_FOUND)
        elif i % 7 == 5:
            uris.append(f"../outside-{i}.jpg")
            expect.append(ErrorCode.URI_NOT_ALLOWED)
        else:
            (root / f"{i}.jpg").write_bytes(f"photo {i}".encode())
            uris.append(f"{i}.jpg")
            expect.append(f"photo {i}".encode())
    return ImageStore(IOConfig(), str(root)), uris, expect


def _as_expected(result: bytes | PhotoError) -> bytes | ErrorCode:
    return result.code if isinstance(result, PhotoError) else result


def test_fetch_many_yields_every_index_once(
    local_store: tuple[ImageStore, list[str], list[bytes | ErrorCode]],
) -> None:
    store, uris, expect = local_store
    seen = {}
    for index, result, seconds in fetch_many(store, uris, threads=3):
        assert seconds >= 0
        assert index not in seen
        seen[index] = _as_expected(result)
    assert seen == dict(enumerate(expect))


def test_empty_list_yields_nothing(
    local_store: tuple[ImageStore, list[str], list[bytes | ErrorCode]],
) -> None:
    assert list(fetch_many(local_store[0], [], threads=2)) == []


def test_threads_must_be_positive(local_store: tuple[ImageStore, list[str], list[bytes | ErrorCode]]) -> None:
    with pytest.raises(ValueError, match="threads"):
        next(fetch_many(local_store[0], local_store[1], threads=0))


def _fetch_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("podocr-fetch"))


def test_closing_early_leaves_no_threads(
    local_store: tuple[ImageStore, list[str], list[bytes | ErrorCode]],
) -> None:
    store, uris, _ = local_store
    gen = fetch_many(store, uris * 20, threads=4)
    next(gen)
    gen.close()
    assert _fetch_threads() == 0


class _Exploding:
    """A store whose fetch has a bug (raises something other than PhotoError) for one URI."""

    def fetch(self, uri: str) -> bytes:
        if uri == "bug":
            raise KeyError("boom")
        return uri.encode()


def test_a_bug_in_fetch_becomes_an_internal_error_for_that_photo_only() -> None:
    results = {f.position: f.result for f in fetch_many(_Exploding(), ["a", "bug", "c"], threads=2)}
    assert results[0] == b"a" and results[2] == b"c"
    assert isinstance(results[1], PhotoError) and results[1].code is ErrorCode.INTERNAL
    assert "KeyError" in results[1].message


# ---- against S3 through the proxy: real latency, observable request counts ---------------------------------
@pytest.fixture(scope="module")
def slow_s3(s3_server: MotoServer) -> Iterator[tuple[FaultProxy, str]]:
    fs = s3_server.fs()
    bucket = "podocr-fetch"
    fs.mkdir(bucket)
    for i in range(N_OBJECTS):
        fs.pipe(f"{bucket}/pod/{i}.jpg", f"photo {i}".encode())
    with FaultProxy(s3_server.endpoint_url) as proxy:
        yield proxy, bucket
    fs.rm(bucket, recursive=True)


def _store(proxy: FaultProxy, bucket: str) -> ImageStore:
    return ImageStore(IOConfig(s3_endpoint_url=proxy.endpoint_url, read_retries=0), f"s3://{bucket}/pod")


def test_in_flight_reads_are_bounded_while_the_consumer_is_busy(slow_s3: tuple[FaultProxy, str]) -> None:
    proxy, bucket = slow_s3
    store = _store(proxy, bucket)
    store.fetch("0.jpg")  # connect once, outside the count
    proxy.inject()
    uris = [f"{i}.jpg" for i in range(N_OBJECTS)]
    gen = fetch_many(store, uris, 2, max_in_flight=4)
    first = next(gen)
    time.sleep(0.5)  # a consumer busy with OCR: the pool must not run ahead
    assert proxy.count("HEAD") == 1 + 4  # the one taken plus the window, not the whole partition
    rest = list(gen)
    assert proxy.count("HEAD") == N_OBJECTS
    payloads = [item.result for item in (first, *rest)]
    assert sorted(p for p in payloads if isinstance(p, bytes)) == sorted(
        f"photo {i}".encode() for i in range(N_OBJECTS)
    )


def test_reads_overlap(slow_s3: tuple[FaultProxy, str]) -> None:
    """8 reads each held 0.4 s by the storage: 8 threads take about one delay, not eight."""
    proxy, bucket = slow_s3
    store = _store(proxy, bucket)
    store.fetch("0.jpg")
    proxy.inject(Fault("delay", times=8, method="GET", stall_s=0.4))
    start = time.monotonic()
    results = {f.position: f.result for f in fetch_many(store, [f"{i}.jpg" for i in range(8)], threads=8)}
    elapsed = time.monotonic() - start
    assert sorted(results) == list(range(8)) and all(isinstance(r, bytes) for r in results.values())
    assert proxy.count("GET", "delay") == 8
    assert elapsed < 0.4 * 8 / 2, elapsed


class _Blocking:
    """A store whose reads of "stuck*" never return until released (a socket that stays open, a dead mount)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def fetch(self, uri: str) -> bytes:
        if uri.startswith("stuck"):
            self.release.wait()
        time.sleep(0.01)
        return uri.encode()


def test_a_read_that_never_returns_is_a_timeout_row_and_the_rest_arrive() -> None:
    store = _Blocking()
    uris = ["a", "stuck-1", *[f"p{i}" for i in range(20)]]
    start = time.monotonic()
    try:
        got = {f.position: f for f in fetch_many(store, uris, threads=2, timeout_s=0.5)}
        elapsed = time.monotonic() - start
    finally:
        store.release.set()
    assert sorted(got) == list(range(len(uris)))
    stuck = got[1].result
    assert isinstance(stuck, PhotoError) and stuck.code is ErrorCode.TIMEOUT and "0.5s" in stuck.message
    assert got[1].seconds == 0.5
    assert all(got[i].result == uris[i].encode() for i in range(len(uris)) if i != 1)
    assert elapsed < 3, elapsed  # one time limit, not one per later photo


def test_per_photo_read_times_are_their_own_even_for_a_repeated_uri() -> None:
    slow = _Slow({"slow.jpg": 0.3})
    got = list(fetch_many(slow, ["slow.jpg", "slow.jpg", "fast.jpg"], threads=3))
    by_index = {f.position: f.seconds for f in got}
    assert by_index[0] >= 0.3 and by_index[1] >= 0.3 and by_index[2] < 0.2


class _Slow:
    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays

    def fetch(self, uri: str) -> bytes:
        time.sleep(self.delays.get(uri, 0.0))
        return uri.encode()


def test_too_many_stuck_reads_fail_the_partition_instead_of_leaking_threads() -> None:
    store = _Blocking()
    try:
        with pytest.raises(StuckReads, match="not answering"):
            list(fetch_many(store, [f"stuck-{i}" for i in range(10)], threads=2, timeout_s=0.2))
    finally:
        store.release.set()
