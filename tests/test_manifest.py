"""Manifest reading and validation: every bad input is a specific ManifestError, good input stays all-strings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from podocr.config import IOConfig
from podocr.io import manifest as m

IO = IOConfig()
GOOD_CSV = (
    "delivery_id,image_uri,expected_name,expected_zip,extra\n"
    "D001,images/a.jpg,Ann Lee,02134,x\n"
    'D002,s3://bucket/b.jpg,"Lee, Bo",,y\n'
    "00003,/abs/c.jpg,,99501,z\n"
)


def write(tmp_path: Path, name: str, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_csv_is_read_as_strings_with_optional_columns_and_hash(tmp_path: Path) -> None:
    uri = write(tmp_path, "manifest.csv", GOOD_CSV)
    man = m.read_manifest(uri, IO)
    assert man.rows == 3 and man.format == "csv"
    assert man.table.schema == m.SCHEMA  # unknown columns dropped, missing optional ones null
    rows = man.table.to_pylist()
    assert rows[0]["expected_zip"] == "02134" and rows[2]["delivery_id"] == "00003"
    assert rows[1]["expected_name"] == "Lee, Bo" and rows[1]["expected_zip"] is None
    assert rows[0]["expected_city"] is None
    assert man.sha256 == hashlib.sha256(GOOD_CSV.encode()).hexdigest()


def test_jsonl_and_parquet_formats(tmp_path: Path) -> None:
    lines = [
        {"delivery_id": "A1", "image_uri": "x.jpg", "expected_zip": "00501"},
        {"delivery_id": "A2", "image_uri": "y.jpg"},
    ]
    uri = write(tmp_path, "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    man = m.read_manifest(uri, IO)
    assert man.table.column("expected_zip").to_pylist() == ["00501", None]
    table = pa.table({"delivery_id": pa.array(["P1", "P2"]).dictionary_encode(), "image_uri": ["a", "b"]})
    pq.write_table(table, tmp_path / "manifest.parquet")
    man = m.read_manifest(str(tmp_path / "manifest.parquet"), IO)
    assert man.table.column("delivery_id").to_pylist() == ["P1", "P2"] and man.format == "parquet"


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("manifest.csv", "", "empty (0 bytes)"),
        ("manifest.csv", "delivery_id,image_uri\n", "header but no rows"),
        (
            "manifest.csv",
            "delivery_id,uri\nD1,a.jpg\n",
            "lacks required column(s) image_uri (found: delivery_id, uri)",
        ),
        ("manifest.csv", "delivery_id,image_uri\nD1,a\nD2,b\nD1,c\nD2,d\nD2,e\n", "'D2' ×3"),
        (
            "manifest.csv",
            "delivery_id,image_uri\nD1,a\n,b\n  ,c\n",
            "2 row(s) have an empty delivery_id (data row(s) 2, 3)",
        ),
        ("manifest.csv", "delivery_id,image_uri\nD1,\n", "empty image_uri"),
        (
            "manifest.csv",
            "delivery_id,image_uri,delivery_id\nD1,a,b\n",
            "duplicate column name(s): delivery_id",
        ),
        ("manifest.csv", "delivery_id,image_uri\nD1,a,extra\n", "not valid CSV"),
        (
            "manifest.jsonl",
            '{"delivery_id": "A", "image_uri": "a", "expected_zip": 2134}\n',
            "quote ids and ZIPs",
        ),
        ("manifest.txt", "delivery_id,image_uri\nD1,a\n", "unsupported extension"),
    ],
)
def test_invalid_manifests_name_the_problem(tmp_path: Path, name: str, data: str, needle: str) -> None:
    uri = write(tmp_path, name, data)
    with pytest.raises(m.ManifestError) as err:
        m.read_manifest(uri, IO)
    assert needle in str(err.value)


def test_non_utf8_reports_byte_offset_and_line(tmp_path: Path) -> None:
    head = b"delivery_id,image_uri\nD1,a.jpg\nD2,caf"
    uri = write(tmp_path, "manifest.csv", head + b"\xe9.jpg\n")
    with pytest.raises(m.ManifestError) as err:
        m.read_manifest(uri, IO)
    assert f"byte 0xe9 at byte offset {len(head)} (line 3)" in str(err.value)


def test_non_utf8_across_chunk_boundary(tmp_path: Path) -> None:
    """The offset stays exact when the bad sequence straddles the 1 MiB read chunks."""
    prefix = b"delivery_id,image_uri\n" + b"".join(b"D%07d,a.jpg\n" % i for i in range(80_000))
    pad = (1 << 20) - 1 - len(prefix) % (1 << 20)
    prefix += b"x" * pad + b"\n" if pad > 0 else b""
    prefix = prefix[: (1 << 20) - 1]
    data = prefix + b"\xc3(" + b"\n"  # \xc3 needs a continuation byte; '(' is not one
    uri = write(tmp_path, "manifest.csv", data)
    with pytest.raises(m.ManifestError) as err:
        m.read_manifest(uri, IO)
    assert f"at byte offset {len(prefix)} " in str(err.value)


def test_parquet_with_numeric_ids_is_rejected(tmp_path: Path) -> None:
    pq.write_table(pa.table({"delivery_id": [1, 2], "image_uri": ["a", "b"]}), tmp_path / "manifest.parquet")
    with pytest.raises(m.ManifestError, match="'delivery_id' is int64, expected strings"):
        m.read_manifest(str(tmp_path / "manifest.parquet"), IO)


@pytest.mark.parametrize("date", ["2026-2-30", "2026-02-30", "26-11-2026", "today", "2026-11-26 ", ""])
def test_bad_dates(date: str) -> None:
    with pytest.raises(m.ManifestError, match="invalid --date"):
        m.parse_date(date)


def test_locate_finds_exactly_one(tmp_path: Path) -> None:
    with pytest.raises(m.ManifestError, match="no manifest for 2026-11-26"):
        m.locate(str(tmp_path), "2026-11-26", IO)
    folder = tmp_path / "manifests" / "date=2026-11-26"
    folder.mkdir(parents=True)
    (folder / "manifest.jsonl").write_text("{}")
    assert m.locate(str(tmp_path), "2026-11-26", IO).endswith("date=2026-11-26/manifest.jsonl")
    (folder / "manifest.csv").write_text("x")
    with pytest.raises(m.ManifestError, match="more than one manifest"):
        m.locate(str(tmp_path), "2026-11-26", IO)


def test_staged_partitions_round_trip(tmp_path: Path) -> None:
    rows = 1_003
    body = "delivery_id,image_uri,expected_zip\n" + "".join(
        f"D{i},img/{i}.jpg,0{i:04d}\n" for i in range(rows)
    )
    man = m.read_manifest(write(tmp_path, "manifest.csv", body), IO)
    bounds = m.partition_bounds(rows, 100)
    assert len(bounds) == 11 and bounds[-1] == (1000, 3)
    staged = str(tmp_path / "staged")
    assert not m.is_staged(staged, 11, 100, IO)
    assert m.stage_partitions(man, staged, 100, IO) == 11
    assert m.is_staged(staged, 11, 100, IO)
    for index, (start, count) in enumerate(bounds):
        part = m.read_partition(staged, index, 100, IO)
        assert part.num_rows == count
        assert part.column("delivery_id")[0].as_py() == f"D{start}"
    assert m.read_partition(staged, 3, 100, IO).column("expected_zip")[0].as_py() == "00300"


def test_what_a_partition_reads_of_the_staged_manifest_does_not_grow_with_the_day(tmp_path: Path) -> None:
    """Each task reads one staged file whole: on a ten times bigger day the files are as small (there are more
    of them), so a partition's read costs the same early and late in any day."""
    largest: dict[int, int] = {}
    for rows in (2_000, 20_000):
        body = "delivery_id,image_uri\n" + "".join(f"D{i},img/{i}.jpg\n" for i in range(rows))
        (tmp_path / str(rows)).mkdir()
        man = m.read_manifest(write(tmp_path / str(rows), "manifest.csv", body), IO)
        staged = tmp_path / f"staged-{rows}"
        assert m.stage_partitions(man, str(staged), 10, IO) == rows // 10
        largest[rows] = max(f.stat().st_size for f in staged.iterdir())
        last = m.read_partition(str(staged), rows // 10 - 1, 10, IO)
        assert last.column("delivery_id").to_pylist() == [f"D{i}" for i in range(rows - 10, rows)]
    assert largest[20_000] < 1.5 * largest[2_000], largest


def test_a_large_day_validates_quickly(tmp_path: Path) -> None:
    """200k rows: columnar validation, no per-row Python objects on the driver (a few seconds at most)."""
    import time

    body = "delivery_id,image_uri\n" + "".join(f"D{i:08d},s3://b/{i}.jpg\n" for i in range(200_000))
    uri = write(tmp_path, "manifest.csv", body)
    t0 = time.perf_counter()
    man = m.read_manifest(uri, IO)
    assert man.rows == 200_000
    assert time.perf_counter() - t0 < 10
