"""Helpers for the fault, security and soak tests: `podocr batch` as a real process (started, watched, killed),
the process tree it owns, and the checks every fault test ends with — the committed day holds every manifest
row exactly once, or nothing was committed and the previous day is byte-for-byte what it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from jobkit import DATE, MODEL_SET

from podocr.io import sink

PODOCR = str(Path(sys.executable).with_name("podocr"))  # the console script of this virtualenv
# No dashboard port to collide on, no HTML report: these runs are about the job, not the report.
QUIET_ENV = {"PODOCR__JOB__DASHBOARD_ADDRESS": "", "PODOCR__JOB__REPORT": "false"}


def batch_args(input_root: str | Path, output_root: str | Path, *extra: str) -> list[str]:
    """`podocr batch` for the test day with the cheap model set and no progress bar."""
    return [
        PODOCR,
        "batch",
        "--date",
        DATE,
        "--input",
        str(input_root),
        "--output",
        str(output_root),
        "--model-set",
        MODEL_SET,
        "--no-progress",
        *extra,
    ]


@dataclass
class BatchProcess:
    """A running `podocr batch`; stdout and stderr go to files (a pipe nobody drains would block the job)."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            raise

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def tree(self) -> list[psutil.Process]:
        """The driver and everything it started (LocalCluster nannies/workers), while they live."""
        try:
            driver = psutil.Process(self.pid)
            return [driver, *driver.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_tree(self) -> None:
        """SIGKILL the driver and its descendants, by pid (clean-up after a failed test)."""
        for proc in reversed(self.tree()):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def start_batch(args: list[str], logs: Path, env: dict[str, str] | None = None) -> BatchProcess:
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("*.stdout")))
    stdout_path, stderr_path = logs / f"{n}.stdout", logs / f"{n}.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=err,
            env={**os.environ, **QUIET_ENV, **(env or {})},
        )
    return BatchProcess(proc, stdout_path, stderr_path)


def run_cli(
    args: list[str], logs: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> BatchProcess:
    """Run `podocr batch` to the end; the finished process (returncode, stdout, stderr)."""
    batch = start_batch(args, logs, env)
    batch.wait(timeout)
    return batch


@contextlib.contextmanager
def running(batch: BatchProcess) -> Iterator[BatchProcess]:
    """Never leave a job (or its workers) behind when a test fails half-way."""
    try:
        yield batch
    finally:
        if batch.proc.poll() is None:
            batch.kill_tree()


def kill_driver_when(batch: BatchProcess, ready: Callable[[], bool], timeout: float = 240) -> list[int]:
    """SIGKILL the driver process once `ready()` holds; returns the pids of the workers it had started.

    Waits until those workers are gone too (Dask workers exit when their nanny's process dies), so what is
    staged afterwards is exactly what the killed run left.
    """
    deadline = time.monotonic() + timeout
    children: list[psutil.Process] = []
    while time.monotonic() < deadline:
        children = batch.tree()[1:] or children
        if ready():
            break
        if batch.proc.poll() is not None:
            raise AssertionError(f"the job ended (exit {batch.proc.returncode}) before it could be killed")
        time.sleep(0.05)
    else:
        batch.kill_tree()
        raise AssertionError("the job never reached the point where it was to be killed")
    os.kill(batch.pid, signal.SIGKILL)
    batch.proc.wait(30)
    _, alive = psutil.wait_procs(children, timeout=60)
    for proc in alive:  # did not notice its parent died: our own process, so end it, and fail
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    assert not alive, f"workers {[p.pid for p in alive]} outlived the killed driver"
    return [p.pid for p in children]


# ---- the local output tree -----------------------------------------------------------------------------------
def staging_runs(out: Path, date: str = DATE) -> list[Path]:
    folder = out / sink.STAGING_DIR / f"date={date}"
    return sorted(p for p in folder.glob("run=*") if p.is_dir()) if folder.is_dir() else []


def staged_parts(out: Path, date: str = DATE) -> dict[int, Path]:
    """{partition: part file} of the newest staged run."""
    runs = staging_runs(out, date)
    if not runs:
        return {}
    found = {sink.partition_of(p.name): p for p in runs[-1].iterdir()}
    return {k: v for k, v in found.items() if k is not None}


def results_dir(out: Path, date: str = DATE) -> Path:
    return out / sink.RESULTS_DIR / f"date={date}"


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """{relative path: (inode, mtime_ns, sha256)} of every file below `folder`: proves "untouched"."""
    if not folder.exists():
        return {}
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = path.stat()
        out[str(path.relative_to(folder))] = (
            st.st_ino,
            st.st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
    return out


def s3_snapshot(fs: Any, prefix: str) -> dict[str, str]:
    """{key: ETag} of every object under `prefix` (ETags change whenever an object is rewritten)."""
    fs.invalidate_cache()
    if not fs.exists(prefix):
        return {}
    return {path: str(info["ETag"]) for path, info in fs.find(prefix, detail=True).items()}


def assert_every_row_once(table: Any, success: dict[str, Any], delivery_ids: list[str]) -> None:
    """The committed day holds each manifest row exactly once, from one run, and `_SUCCESS` agrees."""
    ids = table.column("delivery_id").to_pylist()
    assert len(ids) == len(set(ids)), "a delivery appears twice in the committed day"
    assert sorted(ids) == sorted(delivery_ids), "the committed day does not match the manifest"
    assert success["rows"] == success["manifest"]["rows"] == len(delivery_ids)
    assert set(table.column("run_id").to_pylist()) == {success["run_id"]}
    assert success["files"] == [sink.part_name(p, success["run_id"]) for p in range(success["partitions"])]
