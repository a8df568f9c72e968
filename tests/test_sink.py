"""Parquet schema and part files: readable by pandas and DuckDB, atomic parts (publishing: test_io_publish.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from podocr.io import sink


def row(i: int, status: str = "ok", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "r1",
        "delivery_id": f"D{i}",
        "image_uri": f"images/{i}.jpg",
        "status": status,
        "width": 1200,
        "height": 1600,
        "lines": [
            {"text": "1Z999AA10123456784", "confidence": 0.98, "quad": [[0, 0], [10, 0], [10, 5], [0, 5]]}
        ],
        "n_lines": 1,
        "tracking_valid": True,
        "field_scores": {"zip": 1.0},
        "model_versions": {"det": "ab" * 32},
        "expected_zip": "02134",
        "det_s": 0.01,
        "processed_at": dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC),
        "partition": i // 2,
    }
    return {**base, **extra}


def test_schema_is_portable() -> None:
    """No unsigned ints, no nanosecond timestamps, no `date` column (it lives in the hive path)."""
    assert "date" not in sink.SCHEMA.names
    for field in sink.SCHEMA:
        assert not pa.types.is_unsigned_integer(field.type), field
        if pa.types.is_timestamp(field.type):
            assert field.type.unit == "us" and field.type.tz == "UTC"
    assert set(sink.TIMINGS) <= set(sink.SCHEMA.names)


def test_part_round_trip_pandas_and_duckdb(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    day = tmp_path / "ocr_results" / "date=2026-11-26"
    table = sink.rows_to_table([row(0), row(1, "error", error_code="not_found", lines=None, n_lines=None)])
    sink.write_parquet_atomic(fs, table, f"{day}/part-00000.parquet")
    assert sorted(p.name for p in day.iterdir()) == ["part-00000.parquet"]  # no temp file left behind
    meta = pq.ParquetFile(day / "part-00000.parquet").metadata
    assert meta.num_row_groups == 1 and meta.row_group(0).column(0).compression == "ZSTD"
    assert b"pandas" not in (meta.metadata or {})
    back = pq.read_table(day / "part-00000.parquet")
    assert back.schema.field("processed_at").type == pa.timestamp("us", tz="UTC")
    frame = pd.read_parquet(day / "part-00000.parquet")
    assert list(frame["expected_zip"]) == ["02134", "02134"] and list(frame.index) == [0, 1]
    con = duckdb.connect()
    got = con.execute(
        "SELECT date, delivery_id, status, lines[1].text, lines[1].quad[2][1], field_scores['zip'] "
        f"FROM read_parquet('{tmp_path}/ocr_results/*/*.parquet', hive_partitioning = true) ORDER BY delivery_id"
    ).fetchall()
    assert got[0] == (dt.date(2026, 11, 26), "D0", "ok", "1Z999AA10123456784", 10.0, 1.0)
    assert got[1][2] == "error"


def test_staged_parts_ignores_temp_files_and_markers(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    for name in ("part-00000.parquet", "part-00012.parquet", ".part-00001.parquet.tmp-1234", "_run.json"):
        (tmp_path / name).write_bytes(b"x")
    assert sorted(sink.staged_parts(fs, str(tmp_path))) == [0, 12]
    assert sink.staged_parts(fs, str(tmp_path / "absent")) == {}


def test_rows_to_table_rejects_unknown_types() -> None:
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        sink.rows_to_table([row(0, width="wide")])


def test_count_values_adds_up_over_parts_and_batches(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    statuses = ["ok", "ok", "error", "no_text", "ok", "error", "ok"]
    paths = []
    for part in range(3):  # three parts, each with its own mix; Arrow reads them as separate batches
        rows = [
            row(10 * part + i, s, verification=None if s == "error" else "match")
            for i, s in enumerate(statuses)
        ]
        path = f"{tmp_path}/part-{part:05d}.parquet"
        sink.write_parquet_atomic(fs, sink.rows_to_table(rows[part:]), path)
        paths.append(path)
    expected: dict[str, int] = {}
    for part in range(3):
        for s in statuses[part:]:
            expected[s] = expected.get(s, 0) + 1
    counts = sink.count_values(fs, paths, ["status", "verification"])
    assert counts["status"] == expected
    assert counts["verification"] == {
        "match": sum(v for k, v in expected.items() if k != "error")
    }  # nulls left out
