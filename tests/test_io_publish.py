"""Publishing a day (io/publish.py): never without a marker, never a mixture through `_SUCCESS`, on disk and S3.

Each publish step is one file operation, so stopping the publish between any two steps is exactly what a kill
at that point leaves behind. After every such stop the day must read (the way our readers read it: the files
`_SUCCESS` lists) as the old run or the new run, complete; and running the publish again (what `--resume` does),
or publishing a later run, must end with exactly one run's parts in the folder.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_sink import row

from podocr.config import IOConfig
from podocr.io import sink
from podocr.io.publish import publish_day, publish_steps
from podocr.report.data import committed_days

DATE = "2026-11-26"


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Any, str, str, IOConfig]]:
    """(fs, output root path on fs, output URI, IOConfig) on local disk or the moto S3 server."""
    if request.param == "local":
        yield fsspec.filesystem("file"), str(tmp_path), str(tmp_path), IOConfig()
        return
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    yield server.fs(), f"{bucket}/out", f"s3://{bucket}/out", IOConfig(s3_endpoint_url=server.endpoint_url)


def stage(fs: Any, layout: sink.DayLayout, run_id: str, n_parts: int) -> dict[int, str]:
    parts = {}
    for p in range(n_parts):
        path = f"{layout.staging(run_id)}/{sink.part_name(p)}"
        rows = [row(2 * p, run_id=run_id), row(2 * p + 1, run_id=run_id)]
        sink.write_parquet_atomic(fs, sink.rows_to_table(rows), path)
        parts[p] = path
    sink.write_json_atomic(fs, {"run_id": run_id}, f"{layout.staging(run_id)}/{sink.RUN_META}")
    return parts


def read_committed(fs: Any, layout: sink.DayLayout) -> tuple[str, list[str]] | None:
    """(run_id, sorted delivery ids) of the files `_SUCCESS` lists — how a careful reader reads a day."""
    fs.invalidate_cache()
    marker = f"{layout.results}/{sink.SUCCESS}"
    if not fs.isfile(marker):
        return None
    success = json.loads(fs.cat_file(marker))
    runs: set[str] = set()
    ids: list[str] = []
    for name in success["files"]:
        with fs.open(f"{layout.results}/{name}", "rb") as fh:
            table = pq.read_table(fh, columns=["run_id", "delivery_id"])
        runs.update(table.column("run_id").to_pylist())
        ids += table.column("delivery_id").to_pylist()
    assert runs == {success["run_id"]}, f"a mixture: {runs}"
    return success["run_id"], sorted(ids)


def day_ids(n_parts: int) -> list[str]:
    return sorted(f"D{i}" for i in range(2 * n_parts))


def folder_parts(fs: Any, layout: sink.DayLayout) -> list[str]:
    fs.invalidate_cache()
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(layout.results, detail=False)]
    return sorted(n for n in names if sink.partition_of(n) is not None)


def test_publish_replaces_the_day_with_run_unique_names(where: tuple[Any, str, str, IOConfig]) -> None:
    fs, root, _, _ = where
    layout = sink.DayLayout(root, DATE)
    publish_day(fs, layout, "run-a", stage(fs, layout, "run-a", 3), {"run_id": "run-a"})
    assert read_committed(fs, layout) == ("run-a", day_ids(3))
    assert folder_parts(fs, layout) == [sink.part_name(p, "run-a") for p in range(3)]
    success = publish_day(fs, layout, "run-b", stage(fs, layout, "run-b", 2), {"run_id": "run-b"})
    assert success["files"] == [sink.part_name(p, "run-b") for p in range(2)]
    assert read_committed(fs, layout) == ("run-b", day_ids(2))
    assert folder_parts(fs, layout) == success["files"]  # run-a's three parts are gone, not mixed in
    assert not fs.exists(layout.staging("run-b"))


def test_a_publish_stopped_after_any_step_leaves_the_old_or_the_new_day_whole(
    where: tuple[Any, str, str, IOConfig],
) -> None:
    fs, root, _, _ = where
    probe = sink.DayLayout(f"{root}/probe", DATE)
    publish_day(fs, probe, "run-a", stage(fs, probe, "run-a", 3), {"run_id": "run-a"})
    _, all_steps = publish_steps(fs, probe, "run-b", stage(fs, probe, "run-b", 2), {"run_id": "run-b"})
    names = [name for name, _ in all_steps]
    # place × 2, the marker, remove run-a's 3 parts, remove staging: every boundary, including "none run"
    assert names[2] == sink.SUCCESS and len(names) == 7, names
    for stop in range(len(names) + 1):
        layout = sink.DayLayout(f"{root}/stop{stop}", DATE)
        publish_day(fs, layout, "run-a", stage(fs, layout, "run-a", 3), {"run_id": "run-a"})
        new_parts = stage(fs, layout, "run-b", 2)
        _, steps = publish_steps(fs, layout, "run-b", new_parts, {"run_id": "run-b"})
        for _, step in list(steps)[:stop]:
            step()
        seen = read_committed(fs, layout)
        expected = ("run-b", day_ids(2)) if stop > names.index(sink.SUCCESS) else ("run-a", day_ids(3))
        assert seen == expected, f"stopped after {names[:stop]}"
        # what --resume does: the staged run is still there (its staging goes last), so publish it again
        if fs.exists(layout.staging("run-b")):
            publish_day(fs, layout, "run-b", new_parts, {"run_id": "run-b"})
        assert read_committed(fs, layout) == ("run-b", day_ids(2))
        # a later run cleans up whatever the stopped one left
        publish_day(fs, layout, "run-c", stage(fs, layout, "run-c", 1), {"run_id": "run-c"})
        assert read_committed(fs, layout) == ("run-c", day_ids(1))
        assert folder_parts(fs, layout) == [sink.part_name(0, "run-c")], f"stopped after {names[:stop]}"


def test_a_reader_polling_during_repeated_publishes_never_sees_a_mixture(
    where: tuple[Any, str, str, IOConfig],
) -> None:
    """Publishes of 3-, 2- and 1-part runs in a loop; a reader of the files `_SUCCESS` lists (`committed_days`,
    what the report's and notebooks' `connect` reads) polls all along. Every read is one whole run; a read whose
    file vanished under it (the next publish removed it) is retried, which is what the docs tell readers to do.
    The rows are read with pyarrow, not through DuckDB's lazy Arrow scan: that scan can stall when a file
    vanishes mid-read, which says nothing about what `_SUCCESS` lists."""
    fs, root, uri, io_cfg = where
    layout = sink.DayLayout(root, DATE)
    publish_day(fs, layout, "run-000", stage(fs, layout, "run-000", 3), {"run_id": "run-000"})
    stop = threading.Event()
    errors: list[BaseException] = []

    def publisher() -> None:
        try:
            for n in range(1, 13):
                run_id = f"run-{n:03d}"
                publish_day(fs, layout, run_id, stage(fs, layout, run_id, 3 - n % 3), {"run_id": run_id})
                time.sleep(0.1)  # readers get a turn at each run between publishes, and during them
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=publisher)
    thread.start()
    reads: dict[str, int] = {}
    retried = 0
    while not stop.is_set() or not reads:
        try:
            (day,) = committed_days(uri, io_cfg, dates=[DATE])
            table = pa.concat_tables(pq.read_table(part, filesystem=fs) for part in day.parts)
            runs = set(table.column("run_id").to_pylist())
            ids = table.column("delivery_id").to_pylist()
            got = [(run, len(ids), len(set(ids))) for run in sorted(runs)]
        except (OSError, duckdb.Error) as exc:
            if not isinstance(exc, FileNotFoundError) and (
                "FileNotFoundError" not in str(exc)
                and "NoSuchKey" not in str(exc)
                and "not found" not in str(exc)
            ):
                raise
            retried += 1
            continue
        assert len(got) == 1, f"a mixture of runs: {got}"
        run_id, rows, distinct = got[0]
        n_parts = 3 - int(run_id[-3:]) % 3
        assert rows == distinct == 2 * n_parts, got
        reads[run_id] = reads.get(run_id, 0) + 1
        time.sleep(0.01)
    thread.join()
    assert not errors, errors
    assert len(reads) >= 4, (reads, retried)  # the reader really did see the day change under it
