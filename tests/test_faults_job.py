"""Infrastructure failing under a real `podocr batch` run, and what the committed day looks like afterwards.

Every test ends with the same proof: either the committed day holds every manifest row exactly once (with
the right status), or nothing was committed — no new `_SUCCESS` — and the previous day is byte-for-byte what it
was. Real components throughout: a moto S3 server process behind the fault-injecting proxy (`faultproxy`), a
LocalCluster of 2 worker processes × 1 thread, the v6-tiny models, synthetic photos, and for driver crashes the
`podocr batch` command itself as a subprocess. The worker-killed case lives in test_job_s3.py.
"""

from __future__ import annotations

import re
import resource
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest
import test_job_s3
from faultkit import (
    BatchProcess,
    assert_every_row_once,
    batch_args,
    kill_driver_when,
    results_dir,
    run_cli,
    running,
    s3_snapshot,
    snapshot,
    staged_parts,
    staging_runs,
    start_batch,
)
from faultproxy import Fault, FaultProxy
from jobkit import DATE, add_bad_photos, job_config, read_day, read_manifest_rows, synth_day

from podocr.io import sink
from podocr.io.errors import ErrorCode
from podocr.io.manifest import partition_bounds
from podocr.job.exitcodes import ExitCode, InfrastructureError, JobError, PartialFailure
from podocr.job.runner import run_batch

FOREVER = 10**9  # a fault that never clears


# ---- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint_url) as p:
        yield p


# The job tests' LocalCluster (2 worker processes × 1 thread, inheriting the moto server's fake AWS env).
cluster = test_job_s3.cluster


@pytest.fixture
def local_day(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")


@dataclass
class S3Day:
    fs: Any
    bucket: str
    ids: list[str]
    bad: dict[str, ErrorCode]  # delivery_id → the code its broken photo must get
    images: dict[str, str]  # delivery_id → proxy path regex of its photo

    @property
    def out(self) -> str:
        return f"{self.bucket}/out"

    def day(self) -> tuple[dict[str, Any], Any]:
        return read_day(self.fs, self.out)


@pytest.fixture
def s3_day(
    s3_server: Any,
    s3_bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> S3Day:
    """The synthetic day plus broken photos, uploaded straight to moto (not through the proxy)."""
    local = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    bad = add_bad_photos(local)
    fs = s3_server.fs()
    fs.put(str(local) + "/", f"{s3_bucket}/in/", recursive=True)
    rows = read_manifest_rows(local)
    proxy.inject()
    images = {r["delivery_id"]: f"^/{s3_bucket}/in/{re.escape(r['image_uri'])}$" for r in rows}
    return S3Day(fs, s3_bucket, [r["delivery_id"] for r in rows], bad, images)


def s3_config(day: S3Day, cluster: Any, proxy: FaultProxy, **overrides: Any) -> Any:
    """Everything through the proxy, driver and workers alike; quick backoff so retries cost little time."""
    settings: dict[str, Any] = {
        "job__scheduler": cluster.scheduler.address,
        "io__s3_endpoint_url": proxy.endpoint_url,
        "io__read_retries": 3,
        "io__retry_base_s": 0.05,
        "io__retry_max_s": 0.4,
        **overrides,
    }
    return job_config(f"s3://{day.bucket}/in", f"s3://{day.bucket}/out", **settings)


def quiet(_: str) -> None:
    pass


def expect_job_error(cfg: Any, **kwargs: Any) -> tuple[JobError, float]:
    t0 = time.monotonic()
    with pytest.raises(JobError) as err:
        run_batch(cfg, DATE, echo=quiet, **kwargs)
    return err.value, time.monotonic() - t0


def assert_photo_rows(table: Any, day: S3Day, failed: dict[str, ErrorCode] | None = None) -> None:
    """Broken photos have their own codes, `failed` ones theirs; every other photo was read (ok/no_text)."""
    expected = {**day.bad, **(failed or {})}
    for row in table.to_pylist():
        code = expected.get(row["delivery_id"])
        if code is None:
            assert row["status"] in ("ok", "no_text"), (row["delivery_id"], row["error_message"])
        else:
            assert (row["status"], row["error_code"]) == ("error", code), row["delivery_id"]


# ---- S3 through the fault proxy -------------------------------------------------------------------------------
def test_transient_s3_faults_everywhere_are_retried_and_the_day_commits_every_row_once(
    s3_day: S3Day, cluster: Any, proxy: FaultProxy
) -> None:
    """500/503/SlowDown/resets on photo reads, on the driver's manifest read, on the workers' reads of the
    staged manifest and on part uploads: all retried (ImageStore's loop for photos, botocore's for the rest)."""
    bucket = s3_day.bucket
    photos = rf"^/{bucket}/in/images/"
    faults = [
        # ≤ 5 faults on photos in all, so even one photo hit by every one of them succeeds on attempt 6
        Fault("503", times=2, method="HEAD", path=photos),
        Fault("slowdown", times=1, method="GET", path=photos),
        Fault("500", times=1, method="GET", path=photos),
        Fault("reset", times=1, method="GET", path=photos),
        Fault("slowdown", times=1, method="GET", path=rf"^/{bucket}/in/manifests/"),
        Fault("500", times=2, method="GET", path=rf"^/{bucket}/out/_staging/.*/manifest/\d+\.parquet"),
        Fault("503", times=2, method="PUT", path=rf"^/{bucket}/out/_staging/.*/part-\d+\.parquet"),
        Fault("reset", times=1, method="PUT", path=rf"^/{bucket}/out/_staging/.*/part-\d+\.parquet"),
    ]
    proxy.inject(*faults)
    success = run_batch(s3_config(s3_day, cluster, proxy, io__read_retries=5), DATE, echo=quiet)

    fired = {a: proxy.count(action=a) for a in ("503", "slowdown", "500", "reset")}
    assert fired == {"503": 4, "slowdown": 2, "500": 3, "reset": 2}  # every scheduled fault really happened
    committed, table = s3_day.day()
    assert committed["run_id"] == success["run_id"]
    assert_every_row_once(table, committed, s3_day.ids)
    assert_photo_rows(table, s3_day)
    assert str(ErrorCode.FETCH_FAILED) not in committed["counts"]["error_code"]


def test_photos_failing_for_good_become_fetch_failed_rows_and_the_day_still_commits(
    s3_day: S3Day, cluster: Any, proxy: FaultProxy
) -> None:
    """One photo's storage that never recovers is one error row after 1 + read_retries attempts, not a
    failed partition: 503 on every HEAD, a reset on every GET, a read that stalls past the read timeout."""
    good = [i for i in s3_day.ids if i not in s3_day.bad]
    refused, dropped, stalled = good[0], good[len(good) // 2], good[-1]
    proxy.inject(
        Fault("503", times=FOREVER, method="HEAD", path=s3_day.images[refused]),
        Fault("reset", times=FOREVER, method="GET", path=s3_day.images[dropped]),
        Fault("stall", times=FOREVER, method="HEAD", path=s3_day.images[stalled], stall_s=8),
    )
    cfg = s3_config(s3_day, cluster, proxy, io__read_retries=2, io__read_timeout_s=2)
    success = run_batch(cfg, DATE, echo=quiet)

    committed, table = s3_day.day()
    assert committed["run_id"] == success["run_id"]
    assert_every_row_once(table, committed, s3_day.ids)
    failed = dict.fromkeys((refused, dropped, stalled), ErrorCode.FETCH_FAILED)
    assert_photo_rows(table, s3_day, failed)
    rows = {r["delivery_id"]: r for r in table.to_pylist()}
    for delivery_id in failed:
        assert "after 3 attempts" in rows[delivery_id]["error_message"]
    assert "S3 503" in rows[refused]["error_message"]  # (a HEAD response has no body to name the code)
    # exactly 1 + read_retries attempts: the partition was not retried, the photo was not re-read
    heads = [h for h in proxy.log if re.search(s3_day.images[refused], h.path)]
    assert [h.method for h in heads] == ["HEAD"] * 3
    assert committed["counts"]["error_code"][str(ErrorCode.FETCH_FAILED)] == 3


@pytest.mark.parametrize(("action", "explicit"), [("403", False), ("503", False), ("403", True)])
def test_manifest_that_storage_refuses_or_cannot_serve_is_exit_4_not_invalid_input(
    s3_day: S3Day, proxy: FaultProxy, action: str, explicit: bool
) -> None:
    """Access denied or S3 down while looking for the manifest is infrastructure (exit 4: retry later), not
    "no manifest for the day" (exit 2: the input is wrong, do not retry) — fs.isfile() reads any error as False."""
    proxy.inject(Fault(action, times=FOREVER, path=rf"^/{s3_day.bucket}/in/manifests/"))
    cfg = job_config(
        f"s3://{s3_day.bucket}/in",
        f"s3://{s3_day.bucket}/out",
        job__scheduler="synchronous",
        io__s3_endpoint_url=proxy.endpoint_url,
    )
    manifest = f"s3://{s3_day.bucket}/in/manifests/date={DATE}/manifest.csv" if explicit else None
    error, _ = expect_job_error(cfg, manifest_uri=manifest)
    assert isinstance(error, InfrastructureError), f"exit {int(error.exit_code)}: {error}"
    assert "cannot read the manifest" in str(error)
    assert proxy.count(action=action) >= 1
    assert not s3_day.fs.exists(s3_day.out)


def test_output_that_cannot_be_written_exits_non_zero_and_the_previous_day_stays(
    s3_day: S3Day, cluster: Any, proxy: FaultProxy
) -> None:
    """PUTs refused under the output prefix: before anything is staged → exit 4 (infrastructure); only the
    workers' part uploads → exit 3 (partial failure). Either way no `_SUCCESS`, the committed day untouched."""
    first = run_batch(s3_config(s3_day, cluster, proxy), DATE, echo=quiet)
    before = s3_snapshot(s3_day.fs, f"{s3_day.out}/{sink.RESULTS_DIR}")
    assert f"{s3_day.out}/{sink.RESULTS_DIR}/date={DATE}/{sink.SUCCESS}" in before
    everything = s3_snapshot(s3_day.fs, s3_day.out)

    proxy.inject(Fault("503", times=FOREVER, method="PUT", path=rf"^/{s3_day.bucket}/out/"))
    error, took = expect_job_error(s3_config(s3_day, cluster, proxy))
    assert isinstance(error, InfrastructureError) and error.exit_code == ExitCode.INFRASTRUCTURE
    assert "storage step write_json_atomic failed" in str(error) and "injected by faultproxy" in str(error)
    assert took < 120, f"an unwritable output took {took:.0f}s to fail"
    print(f"unwritable output prefix failed the run in {took:.1f}s")
    assert proxy.count(method="PUT", action="503") >= 1
    assert s3_snapshot(s3_day.fs, s3_day.out) == everything  # not one object written or removed

    parts = rf"^/{s3_day.bucket}/out/_staging/.*/part-\d+\.parquet"
    proxy.inject(Fault("503", times=FOREVER, method="PUT", path=parts))
    error, took = expect_job_error(s3_config(s3_day, cluster, proxy))
    assert isinstance(error, PartialFailure) and error.exit_code == ExitCode.PARTIAL_FAILURE
    assert "Nothing was committed" in str(error) and "--resume" in str(error)
    assert s3_snapshot(s3_day.fs, f"{s3_day.out}/{sink.RESULTS_DIR}") == before
    committed, table = s3_day.day()
    assert committed["run_id"] == first["run_id"]
    assert_every_row_once(table, committed, s3_day.ids)
    print(f"unwritable parts failed the run in {took:.1f}s")


def test_commit_cut_short_on_s3_keeps_the_old_day_marked_and_resume_publishes_the_staged_run(
    s3_day: S3Day, cluster: Any, proxy: FaultProxy
) -> None:
    """The new parts are copied in under run-unique names before the new `_SUCCESS` is written, so a copy that
    fails half-way leaves the previous day complete and marked (its `_SUCCESS` and its parts untouched), and the
    staged run intact: `--resume` publishes it without redoing a single photo, and removes the old parts."""
    first = run_batch(s3_config(s3_day, cluster, proxy), DATE, echo=quiet)
    results = f"{s3_day.out}/{sink.RESULTS_DIR}/date={DATE}"
    before = s3_snapshot(s3_day.fs, results)
    # the copy of part 1 into the day (botocore sends '=' in keys as %3D)
    copy_of_part_1 = rf"^/{s3_day.bucket}/out/ocr_results/date(=|%3D){DATE}/part-00001-[^/]+\.parquet$"
    proxy.inject(Fault("503", times=FOREVER, method="PUT", path=copy_of_part_1))
    cfg = s3_config(s3_day, cluster, proxy)
    error, _ = expect_job_error(cfg)
    assert isinstance(error, InfrastructureError) and "publish_day" in str(error), str(error)
    committed, table = s3_day.day()
    assert committed["run_id"] == first["run_id"]  # the old day, whole, still marked
    assert_every_row_once(table, committed, s3_day.ids)
    after = s3_snapshot(s3_day.fs, results)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing of the old day was touched
    staging = f"{s3_day.out}/{sink.STAGING_DIR}/date={DATE}"
    (run_folder,) = s3_day.fs.ls(staging, detail=False)
    n_partitions = len(partition_bounds(len(s3_day.ids), cfg.job.partition_size))
    assert sorted(sink.staged_parts(s3_day.fs, run_folder)) == list(range(n_partitions))

    proxy.inject()
    success = run_batch(cfg, DATE, resume=True, echo=quiet)
    assert success["run_id"] == run_folder.rsplit("run=", 1)[1] != first["run_id"]
    assert success["resumed"] and success["partitions_reused"] == list(range(n_partitions))
    assert success["photos_processed"] == 0
    committed, table = s3_day.day()
    assert_every_row_once(table, committed, s3_day.ids)
    assert_photo_rows(table, s3_day)
    assert not s3_day.fs.exists(run_folder)
    s3_day.fs.invalidate_cache()
    on_s3 = sorted(
        p.rsplit("/", 1)[-1] for p in s3_day.fs.ls(results, detail=False) if p.endswith(".parquet")
    )
    assert on_s3 == committed["files"]  # the first run's parts are gone


# ---- local disk: the workers' disk fills up ---------------------------------------------------------------------
def _limit_file_size(limit: int) -> None:
    """Runs inside a worker process: its soft RLIMIT_FSIZE (writes past it fail with EFBIG)."""
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


def test_workers_disk_full_fails_the_run_cleanly_then_resume_completes(
    local_day: Path, tmp_path: Path, cluster: Any
) -> None:
    """Part writes failing mid-file (EFBIG from a 1 KiB RLIMIT_FSIZE on the worker processes — the same
    OSError-in-write path as ENOSPC, which needs a filesystem we could fill) → exit 3, nothing committed,
    no temp files left; once the disk has room, `--resume` redoes the partitions and commits."""
    out = tmp_path / "out"
    ids = [r["delivery_id"] for r in read_manifest_rows(local_day)]
    cfg = job_config(str(local_day), str(out), job__scheduler=cluster.scheduler.address)
    first = run_batch(cfg, DATE, echo=quiet)
    previous = snapshot(results_dir(out))

    cluster.run(_limit_file_size, 1024)
    try:
        error, _ = expect_job_error(cfg)
    finally:
        cluster.run(_limit_file_size, resource.RLIM_INFINITY)
    assert isinstance(error, PartialFailure) and error.exit_code == ExitCode.PARTIAL_FAILURE
    assert "File too large" in str(error) and "Nothing was committed" in str(error), str(error)
    assert snapshot(results_dir(out)) == previous
    (run,) = staging_runs(out)
    left = sorted(p.name for p in run.iterdir())
    assert left == [sink.RUN_META, sink.STAGED_MANIFEST]  # no parts, no temp files

    success = run_batch(cfg, DATE, resume=True, echo=quiet)
    assert success["run_id"] == run.name[len("run=") :] != first["run_id"]
    assert success["resumed"] and success["partitions_reused"] == []
    committed, table = read_day(fsspec.filesystem("file"), str(out))
    assert_every_row_once(table, committed, ids)


def test_unwritable_output_paths_exit_4_with_the_path_in_the_message(local_day: Path, tmp_path: Path) -> None:
    """Permission-style failures that stop root too (CI runs as root, where chmod 0555 stops nothing): the
    output root under a regular file (ENOTDIR), and `_staging` taken by a file while a committed day exists."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be\n")
    batch = run_cli(batch_args(local_day, blocker / "out", "--scheduler", "synchronous"), tmp_path / "logs")
    assert batch.proc.returncode == ExitCode.INFRASTRUCTURE, batch.stderr
    assert "error (infrastructure): storage step" in batch.stderr and str(blocker) in batch.stderr
    assert "Traceback" not in batch.stderr
    assert blocker.read_text() == "a file where a folder should be\n"

    out = tmp_path / "out"
    cfg = job_config(str(local_day), str(out), job__scheduler="synchronous")
    first = run_batch(cfg, DATE, echo=quiet)
    previous = snapshot(results_dir(out))
    assert snapshot(out / sink.STAGING_DIR) == {}  # the committed run left no files there
    shutil.rmtree(out / sink.STAGING_DIR)
    (out / sink.STAGING_DIR).write_text("")
    error, _ = expect_job_error(cfg)
    assert isinstance(error, InfrastructureError) and str(out / sink.STAGING_DIR) in str(error), str(error)
    assert snapshot(results_dir(out)) == previous
    committed, _ = read_day(fsspec.filesystem("file"), str(out))
    assert committed["run_id"] == first["run_id"]


# ---- the driver process dies ---------------------------------------------------------------------------------
def _kill_after_first_part(args: list[str], out: Path, logs: Path) -> dict[int, tuple[int, int]]:
    """Start `podocr batch`, SIGKILL it once a part is staged; {partition: (inode, mtime_ns)} it left behind."""
    with running(start_batch(args, logs)) as batch:
        kill_driver_when(batch, lambda: bool(staged_parts(out)))
    return {p: (path.stat().st_ino, path.stat().st_mtime_ns) for p, path in staged_parts(out).items()}


def _finished(batch: BatchProcess) -> dict[str, Any]:
    import json

    assert batch.proc.returncode == 0, batch.stderr
    return dict(json.loads(batch.stdout))


def test_driver_killed_mid_run_then_resume_redoes_only_unfinished_partitions_and_rerun_replaces(
    local_day: Path, tmp_path: Path
) -> None:
    """SIGKILL on the `podocr batch` process (its LocalCluster of 2 workers dies with it), twice:
    1. nothing committed; `--resume` keeps the staged parts (same files: inode and mtime) and redoes the rest;
    2. with that day committed, a second killed run leaves it byte-for-byte intact, and a plain rerun (no
       `--resume`) replaces it with a fresh run and drops the killed run's staging."""
    add_bad_photos(local_day)
    ids = [r["delivery_id"] for r in read_manifest_rows(local_day)]
    out, logs = tmp_path / "out", tmp_path / "logs"
    args = batch_args(
        local_day, out, "--partition-size", "1", "--n-workers", "2", "--threads-per-worker", "1"
    )
    n = len(ids)

    left = _kill_after_first_part(args, out, logs)
    assert 0 < len(left) < n, f"{len(left)} of {n} parts staged when the driver was killed"
    assert not results_dir(out).exists()
    (killed_run,) = staging_runs(out)
    resumed_at = time.time()
    success = _finished(run_cli([*args, "--resume", "--json"], logs))
    assert success["run_id"] == killed_run.name[len("run=") :]
    assert success["resumed"] and success["partitions_reused"] == sorted(left)
    assert success["attempts"][-1]["partitions"] == [p for p in range(n) if p not in left]
    assert success["photos_processed"] == n - len(left)
    for p, identity in left.items():  # reused parts were linked into the day, not rewritten
        st = (results_dir(out) / sink.part_name(p, success["run_id"])).stat()
        assert (st.st_ino, st.st_mtime_ns) == identity
    committed, table = read_day(fsspec.filesystem("file"), str(out))
    assert_every_row_once(table, committed, ids)
    for row in table.to_pylist():  # rows of redone partitions were processed after the resume started
        assert (row["processed_at"].timestamp() < resumed_at) == (row["partition"] in left)

    previous = snapshot(results_dir(out))
    _kill_after_first_part(args, out, logs)
    assert snapshot(results_dir(out)) == previous
    (second_killed,) = staging_runs(out)
    rerun = _finished(run_cli([*args, "--json"], logs))
    assert rerun["run_id"] not in (success["run_id"], second_killed.name[len("run=") :])
    assert not rerun["resumed"] and rerun["partitions_reused"] == []
    committed, table = read_day(fsspec.filesystem("file"), str(out))
    assert_every_row_once(table, committed, ids)
    assert staging_runs(out) == []  # the killed run's staging was dropped by the commit


# ---- the cluster cannot be reached ------------------------------------------------------------------------------
def test_unreachable_scheduler_exits_4_within_the_connect_timeout(local_day: Path, tmp_path: Path) -> None:
    """The CLI process itself: exit 4, one clear line, no traceback, bounded by job.connect_timeout_s."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    t0 = time.monotonic()
    batch = run_cli(
        batch_args(local_day, out, "--scheduler", f"tcp://127.0.0.1:{port}"),
        tmp_path / "logs",
        env={"PODOCR__JOB__CONNECT_TIMEOUT_S": "3"},
        timeout=120,
    )
    took = time.monotonic() - t0
    assert batch.proc.returncode == ExitCode.INFRASTRUCTURE, batch.stderr
    message = f"error (infrastructure): cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    assert message in batch.stderr
    assert "Traceback" not in batch.stderr
    assert took < 3 + 45, f"took {took:.0f}s"  # the timeout plus interpreter start-up on a loaded machine
    assert not results_dir(out).exists() and staged_parts(out) == {}
    print(f"unreachable scheduler: exit 4 after {took:.1f}s (connect timeout 3s)")
