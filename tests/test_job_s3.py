"""The batch job against S3 (a real moto server through s3fs) on a real multi-process Dask cluster.

Manifest and photos in a bucket → Parquet in the bucket; rerun replaces; a worker SIGKILLed mid-run still
yields every row exactly once; a partition that fails for good is exit 3 with nothing committed, and
`--resume` then redoes only the partitions without a staged part.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobkit import DATE, add_bad_photos, job_config, read_day, read_manifest_rows, synth_day

from podocr.io import sink
from podocr.io.errors import ErrorCode
from podocr.io.manifest import partition_bounds
from podocr.job.cache import load_history
from podocr.job.exitcodes import ExitCode, InfrastructureError, InvalidInput, PartialFailure
from podocr.job.runner import run_batch


@pytest.fixture(scope="module")
def cluster(s3_server: Any) -> Iterator[Any]:
    """2 worker processes × 1 thread, started after s3_server so the workers inherit its fake AWS env."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc,
        Client(lc, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture
def s3_day(
    s3_server: Any, s3_bucket: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The synthetic day (+ bad photos) uploaded under s3://bucket/in; results go to s3://bucket/out."""
    local = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    bad = add_bad_photos(local)
    fs = s3_server.fs()
    fs.put(str(local) + "/", f"{s3_bucket}/in/", recursive=True)
    return {
        "fs": fs,
        "bucket": s3_bucket,
        "input": f"s3://{s3_bucket}/in",
        "output": f"s3://{s3_bucket}/out",
        "ids": [r["delivery_id"] for r in read_manifest_rows(local)],
        "bad": bad,
        "endpoint": s3_server.endpoint_url,
    }


def config(day: dict[str, Any], cluster: Any, **overrides: Any) -> Any:
    return job_config(
        day["input"],
        day["output"],
        job__scheduler=cluster.scheduler.address,
        io__s3_endpoint_url=day["endpoint"],
        **overrides,
    )


def staged_parts(day: dict[str, Any]) -> dict[int, str]:
    fs = day["fs"]
    root = f"{day['bucket']}/out/_staging/date={DATE}"
    fs.invalidate_cache()
    runs = [p for p in fs.ls(root, detail=False)] if fs.exists(root) else []
    return sink.staged_parts(fs, runs[-1]) if runs else {}


def kill_a_busy_worker(client: Any, day: dict[str, Any], after_parts: int = 1, timeout: float = 120) -> int:
    """Once `after_parts` parts are staged, SIGKILL (by pid) a worker that is running a partition."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(staged_parts(day)) >= after_parts:
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                return int(pids[busy[0]])
        time.sleep(0.05)
    raise AssertionError("no worker was busy to kill")


def run_in_thread(cfg: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["success"] = run_batch(cfg, DATE, echo=lambda _: None, **kwargs)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def assert_exactly_once(day: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    success, table = read_day(day["fs"], f"{day['bucket']}/out")
    ids = table.column("delivery_id").to_pylist()
    assert sorted(ids) == sorted(day["ids"]) and len(ids) == len(set(ids))
    assert success["rows"] == len(day["ids"])
    return success, table


def test_s3_in_parquet_out_and_rerun_replaces(s3_day: dict[str, Any], cluster: Any) -> None:
    first = run_batch(config(s3_day, cluster), DATE, echo=lambda _: None)
    success, table = assert_exactly_once(s3_day)
    assert success["run_id"] == first["run_id"] and success["cluster"]["kind"] == "external"
    rows = {r["delivery_id"]: r for r in table.to_pylist()}
    for delivery_id, code in s3_day["bad"].items():
        assert (rows[delivery_id]["status"], rows[delivery_id]["error_code"]) == ("error", code)
    good = [r for r in rows.values() if r["delivery_id"] not in s3_day["bad"]]
    assert sum(r["status"] == "ok" for r in good) >= len(good) // 2
    assert len({r["worker"] for r in rows.values()}) == 2  # both worker processes did work
    loads = cluster.run(load_history)
    assert all(len(history) <= 1 for history in loads.values())  # models loaded once per worker, not per task

    second = run_batch(config(s3_day, cluster), DATE, echo=lambda _: None)
    success, table = assert_exactly_once(s3_day)
    assert success["run_id"] == second["run_id"] != first["run_id"]
    assert set(table.column("run_id").to_pylist()) == {second["run_id"]}
    assert not s3_day["fs"].exists(f"{s3_day['bucket']}/out/_staging/date={DATE}/run={first['run_id']}")


def test_worker_killed_mid_run_still_yields_every_row_once(s3_day: dict[str, Any], cluster: Any) -> None:
    thread, box = run_in_thread(config(s3_day, cluster, job__partition_size=1))
    killed = kill_a_busy_worker(cluster, s3_day, after_parts=6)
    thread.join(timeout=300)
    assert "error" not in box, box.get("error")
    success, _ = assert_exactly_once(s3_day)
    assert killed not in cluster.run(os.getpid).values()  # the nanny replaced it; the job carried on
    assert success["counts"]["error_code"].get(str(ErrorCode.INTERNAL)) is None
    # The partitions the killed worker had finished were collected and let go, so none is recomputed: at most
    # one that finished as it was killed, before the driver took its result.
    removals = [
        m for _, m in cluster.get_events("all") if isinstance(m, dict) and m.get("action") == "remove-worker"
    ]
    assert removals and len(removals[-1]["lost-computed-tasks"]) <= 1, removals[-1]


def test_partition_failure_is_exit_3_then_resume_redoes_only_the_missing(
    s3_day: dict[str, Any], cluster: Any
) -> None:
    """allowed-failures 0: a worker death fails its partition outright (retries do not cover a lost worker)."""
    old = cluster.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    cluster.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    try:
        thread, box = run_in_thread(config(s3_day, cluster, job__partition_size=2))
        kill_a_busy_worker(cluster, s3_day)
        thread.join(timeout=300)
    finally:
        cluster.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", old))
    error = box.get("error")
    assert isinstance(error, PartialFailure) and error.exit_code == ExitCode.PARTIAL_FAILURE == 3
    assert "KilledWorker" in str(error) and "--resume" in str(error)
    fs = s3_day["fs"]
    assert not fs.exists(f"{s3_day['bucket']}/out/ocr_results/date={DATE}/_SUCCESS")  # nothing committed
    done_before = staged_parts(s3_day)
    etags = {p: fs.info(path)["ETag"] for p, path in done_before.items()}
    n_partitions = -(-len(s3_day["ids"]) // 2)
    assert 0 < len(done_before) < n_partitions

    success = run_batch(
        config(s3_day, cluster, job__partition_size=2), DATE, resume=True, echo=lambda _: None
    )
    assert success["resumed"] and success["partitions_reused"] == sorted(done_before)
    assert len(success["attempts"]) == 2 and success["attempts"][0]["failed"]
    todo = [p for p in range(n_partitions) if p not in done_before]
    bounds = partition_bounds(len(s3_day["ids"]), 2)
    assert success["photos_processed"] == sum(bounds[p][1] for p in todo)
    assert success["attempts"][-1]["partitions"] == todo
    # the reused parts are the very objects staged by the first attempt (S3 copy keeps the ETag of the bytes)
    folder = f"{s3_day['bucket']}/out/ocr_results/date={DATE}"
    run_id = success["run_id"]
    assert {p: fs.info(f"{folder}/{sink.part_name(p, run_id)}")["ETag"] for p in done_before} == etags
    assert_exactly_once(s3_day)


def test_resume_refuses_a_changed_manifest(s3_day: dict[str, Any], cluster: Any) -> None:
    fs = s3_day["fs"]
    meta = {
        "run_id": "20000101T000000Z-deadbeef",
        "manifest_sha256": "0" * 64,
        "partition_size": 4,
        "model_set": "v6-tiny",
        "config_key": "x",
        "images_root": s3_day["input"],
    }
    sink.write_json_atomic(
        fs, meta, f"{s3_day['bucket']}/out/_staging/date={DATE}/run={meta['run_id']}/{sink.RUN_META}"
    )
    with pytest.raises(
        Exception, match="cannot resume run 20000101T000000Z-deadbeef: manifest_sha256"
    ) as err:
        run_batch(config(s3_day, cluster), DATE, resume=True, echo=lambda _: None)
    assert getattr(err.value, "exit_code", None) == ExitCode.INVALID_INPUT


def test_invalid_manifest_in_s3_exits_2_and_writes_nothing(s3_server: Any, s3_bucket: str) -> None:
    fs = s3_server.fs()
    fs.pipe(
        f"{s3_bucket}/in/manifests/date={DATE}/manifest.csv", b"delivery_id,image_uri\nA,a.jpg\nA,b.jpg\n"
    )
    cfg = job_config(
        f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/out", io__s3_endpoint_url=s3_server.endpoint_url
    )
    with pytest.raises(InvalidInput, match="'A' ×2") as err:
        run_batch(cfg, DATE, echo=lambda _: None)
    assert err.value.exit_code == ExitCode.INVALID_INPUT
    fs.invalidate_cache()
    assert not fs.exists(f"{s3_bucket}/out")


def test_unreachable_storage_exits_4(s3_server: Any) -> None:
    cfg = job_config("s3://bucket/in", "s3://bucket/out", io__s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(InfrastructureError, match="cannot read the manifest") as err:
        run_batch(cfg, DATE, echo=lambda _: None)
    assert err.value.exit_code == ExitCode.INFRASTRUCTURE
