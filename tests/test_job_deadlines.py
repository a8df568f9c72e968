"""Unattended operation: photos whose read never returns, partitions that hang, workers over their memory limit.

Each ends with the day committed, every manifest row exactly once, within the configured limits — never a day
that waits for ever. Real components: moto behind the fault proxy (a stalled S3 answer is a real open socket that
says nothing), a named pipe on disk, LocalClusters of worker processes with nannies, the v6-tiny models.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import dask
import fsspec
import pytest
from faultkit import assert_every_row_once
from faultproxy import Fault, FaultProxy
from jobkit import DATE, job_config, read_day, read_manifest_rows, synth_day, write_manifest_rows
from test_faults_job import S3Day, cluster, proxy, quiet, s3_config, s3_day  # noqa: F401  (fixtures)

from podocr.io.errors import ErrorCode
from podocr.job.runner import run_batch


def test_a_photo_whose_read_never_returns_is_a_timeout_row_and_the_day_commits(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: Any,
    s3_bucket: str,
    proxy: FaultProxy,  # noqa: F811
) -> None:
    """One day, three blocking photos: a named pipe among the local photos (refused at once: only regular files
    are opened), and an S3 photo whose GET the endpoint accepts and never answers (botocore's own read timeout
    set far beyond the photo limit, so only the job's deadline can end it)."""
    day = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    os.mkfifo(day / "images" / "pipe.jpg")
    fs = s3_server.fs()
    good = read_manifest_rows(day)[0]["image_uri"]
    fs.put(str(day / good), f"{s3_bucket}/photos/stalled.jpg")
    rows = read_manifest_rows(day)
    rows += [
        {"delivery_id": "PIPE", "image_uri": "images/pipe.jpg"},
        {"delivery_id": "STALL", "image_uri": f"s3://{s3_bucket}/photos/stalled.jpg"},
    ]
    write_manifest_rows(day, rows)
    proxy.inject(Fault("stall", times=10, method="GET", path=r"stalled\.jpg$", stall_s=60))
    cfg = job_config(
        str(day),
        str(tmp_path / "out"),
        job__scheduler="synchronous",
        job__photo_timeout_s=3,
        io__images_roots=f"s3://{s3_bucket}/photos",
        io__s3_endpoint_url=proxy.endpoint_url,
        io__read_timeout_s=600,
    )
    t0 = time.monotonic()
    success = run_batch(cfg, DATE, echo=quiet)
    elapsed = time.monotonic() - t0
    committed, table = read_day(fsspec.filesystem("file"), str(tmp_path / "out"))
    assert_every_row_once(table, committed, [r["delivery_id"] for r in rows])
    by_id = {r["delivery_id"]: r for r in table.to_pylist()}
    assert (by_id["STALL"]["error_code"], by_id["STALL"]["fetch_s"]) == (ErrorCode.TIMEOUT, 3.0)
    assert "within 3s" in by_id["STALL"]["error_message"]
    assert (
        by_id["PIPE"]["error_code"] == ErrorCode.NOT_FOUND
        and "not a regular file" in by_id["PIPE"]["error_message"]
    )
    assert all(r["status"] != "error" for k, r in by_id.items() if k not in ("PIPE", "STALL"))
    assert success["counts"]["error_code"] == {"timeout": 1, "not_found": 1}
    assert proxy.count("GET", "stall") >= 1
    assert elapsed < 60, elapsed  # the stalled answer would have held the day for 600 s


@pytest.mark.slow  # a deadline long enough that a loaded 2-core CI box never trips it by accident: ~1-3 min
def test_a_partition_that_hangs_is_retried_on_a_restarted_worker(
    s3_day: S3Day,  # noqa: F811
    cluster: Any,  # noqa: F811
    proxy: FaultProxy,  # noqa: F811
) -> None:
    """The first read of one photo stalls (S3 accepts and says nothing; botocore would wait 10 min) and the
    photo limit is set beyond the partition deadline, so only the watchdog can end it: past
    `job.partition_deadline_s` it restarts that worker through its nanny, Dask runs the partition again (the
    photo's second GET is answered), and the day commits every row. Photos are read by workers only, so the
    stall cannot land on the driver (which reads the staged manifest back after writing it)."""
    victim = next(i for i in s3_day.ids if i not in s3_day.bad)
    proxy.inject(Fault("stall", times=1, method="GET", path=s3_day.images[victim], stall_s=600))
    cfg = s3_config(
        s3_day, cluster, proxy, job__partition_deadline_s=90, job__photo_timeout_s=600, io__read_timeout_s=600
    )
    t0 = time.monotonic()
    success = run_batch(cfg, DATE, echo=quiet)
    assert time.monotonic() - t0 < 300
    assert proxy.count("GET", "stall") == 1
    assert success["cluster"]["restarts"].get("deadline") == 1, success["cluster"]
    committed, table = s3_day.day()
    assert_every_row_once(table, committed, s3_day.ids)


@pytest.mark.slow  # starts its own cluster and restarts a worker: ~1-2 min on 2 cores
def test_a_worker_over_its_memory_limit_is_restarted_and_the_day_commits_every_row(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our own LocalCluster with `job.memory_limit`; the first worker to run a partition leaks (a worker preload,
    tests/leaky_preload.py) until its nanny kills it over the limit. The partition runs again on the restarted
    worker; the restart is in the run summary."""
    day = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    monkeypatch.setenv("PODOCR_TEST_LEAK_MARKER", str(tmp_path / "leaked"))
    preload = str(Path(__file__).with_name("leaky_preload.py"))
    cfg = job_config(
        str(day), str(tmp_path / "out"), job__n_workers=2, job__memory_limit="1536MiB", job__retries=1
    )
    with dask.config.set({"distributed.worker.preload": [preload]}):
        success = run_batch(cfg, DATE, echo=quiet)
    assert (tmp_path / "leaked").exists()
    assert success["cluster"]["memory_limit_bytes"] == 1536 * 2**20
    assert success["cluster"]["restarts"].get("lost", 0) >= 1, success["cluster"]
    committed, table = read_day(fsspec.filesystem("file"), str(tmp_path / "out"))
    assert_every_row_once(table, committed, [r["delivery_id"] for r in read_manifest_rows(day)])
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", committed["run_id"])
