"""The batch job on local disk: one row per photo, error rows for bad photos, rerun replaces, exit codes.

Real components throughout: synthetic photos, the v6-tiny models, the in-process path (same partition
function as on Dask) and, via `podocr demo`, a real multi-process LocalCluster.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import threading
from pathlib import Path

import duckdb
import fsspec
import pytest
from click.testing import CliRunner
from jobkit import (
    DATE,
    MODEL_SET,
    add_bad_photos,
    job_config,
    read_day,
    read_manifest_rows,
    synth_day,
    write_manifest_rows,
)

from podocr.cli import main
from podocr.io import sink
from podocr.job.exitcodes import ExitCode, InfrastructureError
from podocr.job.runner import run_batch


@pytest.fixture
def day(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")


def batch(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["batch", "--no-progress", *args], catch_exceptions=False)
    return result.exit_code, result.output


# one thread reads batches of job.ocr_batch_size; batch threads read each photo on one of them (job/photos.py)
@pytest.mark.parametrize("batch_threads", [1, 2], ids=["batches", "batch-threads"])
def test_every_photo_gets_exactly_one_row_and_bad_photos_get_codes(
    day: Path, tmp_path: Path, batch_threads: int
) -> None:
    expected_errors = add_bad_photos(day)
    manifest = read_manifest_rows(day)
    out = tmp_path / "out"
    cfg = job_config(str(day), str(out), job__scheduler="synchronous", engine__batch_threads=batch_threads)
    success = run_batch(cfg, DATE, echo=lambda _: None)

    _, table = read_day(fsspec.filesystem("file"), str(out))
    rows = table.to_pylist()
    assert sorted(r["delivery_id"] for r in rows) == sorted(r["delivery_id"] for r in manifest)
    assert success["rows"] == len(manifest) == success["manifest"]["rows"]
    by_id = {r["delivery_id"]: r for r in rows}
    for delivery_id, code in expected_errors.items():
        assert by_id[delivery_id]["status"] == "error"
        assert by_id[delivery_id]["error_code"] == code, by_id[delivery_id]["error_message"]
    good = [r for r in rows if r["delivery_id"] not in expected_errors]
    assert all(r["status"] in ("ok", "no_text") for r in good)
    assert sum(r["status"] == "ok" for r in good) >= len(good) // 2  # most synthetic labels are readable
    assert all(r["image_sha256"] and r["width"] > 0 and r["model_set"] == "v6-tiny" for r in good)
    assert {r["run_id"] for r in rows} == {success["run_id"]}
    assert success["counts"]["status"]["error"] == len(expected_errors)
    assert success["counts"]["error_code"] == {str(c): 1 for c in expected_errors.values()}
    # run-unique part names, one per partition, and nothing left in staging
    assert success["files"] == [sink.part_name(p, success["run_id"]) for p in range(success["partitions"])]
    assert list((out / "_staging" / f"date={DATE}").iterdir()) == []
    # analysts' view: DuckDB with hive partitioning sees the date from the path
    sql = f"SELECT count(*), any_value(date) FROM read_parquet('{out}/ocr_results/*/*.parquet', hive_partitioning=true)"
    n, date = duckdb.connect().execute(sql).fetchall()[0]
    assert n == len(manifest) and str(date) == DATE


def test_rerun_replaces_the_day(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = job_config(str(day), str(out), job__scheduler="synchronous", job__partition_size=2)
    write_manifest_rows(day, read_manifest_rows(day)[:5])
    first = run_batch(cfg, DATE, echo=lambda _: None)
    assert first["files"] == [f"part-0000{p}-{first['run_id']}.parquet" for p in range(3)]
    write_manifest_rows(day, read_manifest_rows(day)[:2])  # the day shrinks: fewer partitions than before
    second = run_batch(cfg, DATE, echo=lambda _: None)
    success, table = read_day(fsspec.filesystem("file"), str(out))
    assert second["run_id"] != first["run_id"]
    assert success["run_id"] == second["run_id"] and table.num_rows == 2
    on_disk = sorted(p.name for p in (out / "ocr_results" / f"date={DATE}").glob("*.parquet"))
    assert on_disk == success["files"] == [f"part-00000-{second['run_id']}.parquet"]
    assert set(table.column("run_id").to_pylist()) == {second["run_id"]}


def test_resume_of_a_committed_day_is_a_no_op(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_manifest_rows(day, read_manifest_rows(day)[:1])
    cfg = job_config(str(day), str(out), job__scheduler="synchronous")
    first = run_batch(cfg, DATE, echo=lambda _: None)
    mtime = (out / "ocr_results" / f"date={DATE}" / "_SUCCESS").stat().st_mtime_ns
    again = run_batch(cfg, DATE, resume=True, echo=lambda _: None)
    assert again["run_id"] == first["run_id"]
    assert (out / "ocr_results" / f"date={DATE}" / "_SUCCESS").stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty (0 bytes)"),
        (b"delivery_id,image_uri\nD1,a.jpg\nD1,b.jpg\n", "'D1' ×2"),
        (b"delivery_id,photo\nD1,a.jpg\n", "lacks required column(s) image_uri"),
        (b"delivery_id,image_uri\nD1,caf\xe9.jpg\n", "byte offset 28 (line 2)"),
        (b"delivery_id,image_uri\n,a.jpg\n", "empty delivery_id"),
    ],
)
def test_invalid_manifest_exits_2_and_writes_nothing(tmp_path: Path, content: bytes, needle: str) -> None:
    folder = tmp_path / "in" / "manifests" / f"date={DATE}"
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_bytes(content)
    out = tmp_path / "out"
    code, output = batch("--date", DATE, "--input", str(tmp_path / "in"), "--output", str(out))
    assert code == ExitCode.INVALID_INPUT and needle in output
    assert not out.exists()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    code, output = batch("--date", "2026-13-01", "--input", str(tmp_path), "--output", str(tmp_path / "out"))
    assert code == ExitCode.INVALID_INPUT and "invalid --date" in output
    code, output = batch("--date", DATE, "--input", str(tmp_path), "--output", str(tmp_path / "out"))
    assert code == ExitCode.INVALID_INPUT and "no manifest for 2026-11-26" in output
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_and_missing_dask_cuda_exit_4(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = job_config(str(day), str(out), job__scheduler="tcp://127.0.0.1:9", job__connect_timeout_s=1)
    with pytest.raises(InfrastructureError, match="cannot reach the Dask scheduler") as err:
        run_batch(cfg, DATE, echo=lambda _: None)
    assert err.value.exit_code == ExitCode.INFRASTRUCTURE == 4
    if importlib.util.find_spec("dask_cuda") is None:
        code, output = batch("--date", DATE, "--input", str(day), "--output", str(out), "--cuda")
        assert code == ExitCode.INFRASTRUCTURE and "dask-cuda" in output
    assert not (out / "ocr_results").exists()


def test_demo_runs_on_a_local_cluster_and_reuses_its_photos(tmp_path: Path) -> None:
    """`podocr demo` end to end (small n): generate → LocalCluster (2 processes) → summary → DuckDB query."""
    folder = tmp_path / "demo"
    args = ["demo", "--dir", str(folder), "--n", "4", "--seed", "3", "--partition-size", "1"]
    args += ["--model-set", "v6-tiny"]
    result = CliRunner().invoke(main, [*args, "--n-workers", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "generating 4 synthetic POD photos" in result.output
    assert "committed 2026-11-26" in result.output and "SELECT status, verification" in result.output
    success = json.loads((folder / "out" / "ocr_results" / "date=2026-11-26" / "_SUCCESS").read_text())
    assert (
        success["rows"] == 4
        and success["cluster"]["kind"] == "local"
        and success["cluster"]["n_workers"] == 2
    )
    assert len(success["model"]["workers"]) == 2  # models were loaded in both worker processes
    # each worker's peak memory comes back with its partitions: a worker process with its models loaded
    peak, limit = success["cluster"]["worker_peak_rss_mib"], success["cluster"]["memory_limit_bytes"]
    assert 100 < peak < limit / 2**20, success["cluster"]
    assert f"peak {peak} MiB of {limit // 2**20} MiB per worker" in result.output
    # the cluster shuts down while the day commits, and is gone when the command returns
    assert not multiprocessing.active_children()
    assert not [t for t in threading.enumerate() if t.name == "podocr-cluster-close"]
    again = CliRunner().invoke(main, [*args, "--scheduler", "synchronous"], catch_exceptions=False)
    assert again.exit_code == 0 and "reusing 4 synthetic photos" in again.output


def test_backfill_runs_each_day_in_order_and_stops_at_the_first_failure(day: Path, tmp_path: Path) -> None:
    rows = read_manifest_rows(day)
    write_manifest_rows(day, rows[:2], date="2026-11-24")
    write_manifest_rows(day, rows[2:4], date="2026-11-25")
    out = tmp_path / "out"
    common = (
        "--input",
        str(day),
        "--output",
        str(out),
        "--scheduler",
        "synchronous",
        "--model-set",
        MODEL_SET,
    )
    code, output = batch("--start", "2026-11-24", "--end", "2026-11-25", *common)
    assert code == 0, output
    assert output.index("== 2026-11-24") < output.index("== 2026-11-25")
    fs = fsspec.filesystem("file")
    for date, n in (("2026-11-24", 2), ("2026-11-25", 2)):
        _success, table = read_day(fs, str(out), date)
        assert table.num_rows == n
    # 2026-11-23 has no manifest: the backfill stops there with exit 2 and runs nothing after it.
    code, output = batch("--start", "2026-11-23", "--end", "2026-11-24", *common)
    assert code == ExitCode.INVALID_INPUT and "backfill stopped at 2026-11-23" in output
    code, output = batch("--date", DATE, "--start", "2026-11-24", "--end", "2026-11-25", *common)
    assert code == ExitCode.INVALID_INPUT and "not both" in output
    code, output = batch("--start", "2026-11-25", "--end", "2026-11-24", *common)
    assert code == ExitCode.INVALID_INPUT and "before --start" in output


@pytest.mark.parametrize("batch_threads", [1, 2], ids=["batches", "batch-threads"])
def test_a_failure_of_the_chain_itself_fails_the_partition(
    day: Path, tmp_path: Path, batch_threads: int
) -> None:
    """A reader that breaks (not one photo: `run_safe` hands those back as rows) stops the partition with the
    error, on both paths, instead of leaving rows unwritten or threads waiting."""
    from podocr.io.storage import ImageStore
    from podocr.job.photos import PhotoChain
    from podocr.job.rows import RowMaker

    class BrokenReader:
        def run_safe(self, images: list) -> list:
            raise RuntimeError("reader broke")

    rows = read_manifest_rows(day)
    cfg = job_config(str(day), str(tmp_path / "out"), engine__batch_threads=batch_threads)
    chain = PhotoChain(cfg, ImageStore(cfg.io, str(day)), rows, RowMaker(rows, {}), BrokenReader())
    with pytest.raises(RuntimeError, match="reader broke"):
        chain.table()
