"""Read and validate a day's manifest before any work starts, and stage it for the workers.

The manifest is `{input}/manifests/date=YYYY-MM-DD/manifest.{csv,parquet,jsonl}` with columns `delivery_id`,
`image_uri` and optional `expected_*`. Everything is kept as strings (a ZIP "02134" keeps its zero) in one Arrow
table — columnar buffers, not a million Python objects on the driver. Every problem is a `ManifestError` whose
message names the file, the column and a few offending values, so nothing is written for a bad day.

The validated table is re-written as Parquet with one row group per partition, a few partitions per file
(`stage_partitions`); a Dask task reads only its own small file and row group (`read_partition`), so the graph
carries descriptors, never rows, and a partition's read costs the same on any size of day.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from podocr.config import IOConfig
from podocr.io.storage import open_fs

FORMATS = ("csv", "parquet", "jsonl")
REQUIRED_COLUMNS = ("delivery_id", "image_uri")
EXPECTED_COLUMNS = (
    "expected_name",
    "expected_street",
    "expected_city",
    "expected_state",
    "expected_zip",
    "expected_tracking",
)
COLUMNS = REQUIRED_COLUMNS + EXPECTED_COLUMNS
SCHEMA = pa.schema([pa.field(name, pa.string(), nullable=name not in REQUIRED_COLUMNS) for name in COLUMNS])
_CHUNK = 1 << 20
_SHOW = 5  # how many offending values an error message names


class ManifestError(ValueError):
    """The manifest (or the date naming it) cannot be used; the message says exactly why."""


@dataclass(frozen=True)
class Manifest:
    uri: str
    format: str
    sha256: str  # of the file's bytes, so a resume can prove it is the same day's input
    size_bytes: int
    table: pa.Table  # SCHEMA: all strings, in file order

    @property
    def rows(self) -> int:
        return self.table.num_rows


def parse_date(text: str) -> str:
    """The ISO date `YYYY-MM-DD`, or a ManifestError; rejects `2024-2-30`-style values and anything else."""
    try:
        parsed = dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.isoformat() != text:
        raise ManifestError(
            f"invalid --date {text!r}: expected a calendar date as YYYY-MM-DD, e.g. 2026-11-26"
        )
    return text


def manifest_dir(input_uri: str, date: str) -> str:
    return f"{input_uri.rstrip('/')}/manifests/date={date}"


def locate(input_uri: str, date: str, io_cfg: IOConfig) -> str:
    """The one `manifest.{csv,parquet,jsonl}` for `date` under `input_uri`; missing or ambiguous is an error."""
    folder = manifest_dir(input_uri, date)
    fs, path = open_fs(folder, io_cfg)
    found = [f"{folder}/manifest.{ext}" for ext in FORMATS if _is_file(fs, f"{path}/manifest.{ext}")]
    if not found:
        tried = ", ".join(f"manifest.{ext}" for ext in FORMATS)
        raise ManifestError(f"no manifest for {date}: looked for {tried} in {folder}")
    if len(found) > 1:
        raise ManifestError(f"more than one manifest for {date} ({', '.join(found)}); keep exactly one")
    return found[0]


def read_manifest(uri: str, io_cfg: IOConfig) -> Manifest:
    """Read, hash and validate a manifest; raises ManifestError (bad content) or OSError (storage)."""
    fmt = _format_of(uri)
    fs, path = open_fs(uri, io_cfg)
    if not _is_file(fs, path):
        raise ManifestError(f"manifest not found: {uri}")
    data, sha256 = _read_hashed(fs, path, check_utf8=fmt != "parquet", uri=uri)
    if data.size == 0:
        raise ManifestError(f"manifest is empty (0 bytes): {uri}")
    raw = {"csv": _parse_csv, "jsonl": _parse_jsonl, "parquet": _parse_parquet}[fmt](data, uri)
    table = _validate(raw, uri)
    return Manifest(uri=uri, format=fmt, sha256=sha256, size_bytes=data.size, table=table)


def _is_file(fs: Any, path: str) -> bool:
    """`fs.isfile` that tells "absent" from "could not look": fsspec's isfile returns False on *any* error, so a
    403 or an S3 outage would read as "no manifest" (exit 2, do not retry) instead of an OSError (exit 4)."""
    try:
        return bool(fs.info(path).get("type") == "file")
    except (FileNotFoundError, NotADirectoryError):
        return False


def _format_of(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ext = "jsonl" if ext in ("jsonl", "ndjson", "json") else ext
    if ext not in FORMATS:
        raise ManifestError(f"manifest {uri}: unsupported extension; use one of .csv, .parquet, .jsonl")
    return ext


def _read_hashed(fs: Any, path: str, check_utf8: bool, uri: str) -> tuple[pa.Buffer, str]:
    """One streamed pass: the bytes (one Arrow buffer), their sha256, and the first non-UTF-8 byte's offset."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    sink = pa.BufferOutputStream()
    offset, newlines = 0, 0
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            sink.write(chunk)
            if check_utf8:
                pending = decoder.getstate()[0]
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    window = pending + chunk
                    at = offset - len(pending) + exc.start
                    line = newlines + window[: exc.start].count(b"\n") + 1
                    raise ManifestError(
                        f"manifest {uri} is not valid UTF-8: byte 0x{window[exc.start]:02x} at byte offset {at} "
                        f"(line {line}); re-export it as UTF-8"
                    ) from None
                newlines += chunk.count(b"\n")
            offset += len(chunk)
    if check_utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ManifestError(
                f"manifest {uri} is not valid UTF-8: it ends inside a multi-byte character (byte offset {offset})"
            ) from None
    return sink.getvalue(), digest.hexdigest()


def _parse_csv(data: pa.Buffer, uri: str) -> pa.Table:
    first = bytes(data[: min(data.size, 64 * 1024)]).decode("utf-8", errors="replace").lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(first.splitlines()[0] if first else "")), [])
    names = [h.strip() for h in header]
    if not any(names):
        raise ManifestError(f"manifest {uri} has no header row; the first line must name the columns")
    _no_duplicate_columns(names, uri)
    try:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, null_values=[""]
            ),
        )
    except pa.ArrowInvalid as exc:
        raise ManifestError(f"manifest {uri} is not valid CSV: {exc}") from None


def _parse_jsonl(data: pa.Buffer, uri: str) -> pa.Table:
    options = pajson.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore")
    try:
        return pajson.read_json(pa.BufferReader(data), parse_options=options)
    except pa.ArrowInvalid as exc:
        raise ManifestError(
            f"manifest {uri} is not valid JSON Lines with string fields (quote ids and ZIPs so leading zeros "
            f"survive): {exc}"
        ) from None


def _parse_parquet(data: pa.Buffer, uri: str) -> pa.Table:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"manifest {uri} is not a readable Parquet file: {exc}") from None
    _no_duplicate_columns(table.column_names, uri)
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            if name in COLUMNS:
                raise ManifestError(
                    f"manifest {uri}: column {name!r} is {col.type}, expected strings (ids and ZIPs keep their "
                    f"leading zeros only as strings)"
                )
            continue
        try:
            col.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise ManifestError(f"manifest {uri}: column {name!r} is not valid UTF-8 ({exc})") from None
        columns[name] = col.cast(pa.string())
    return pa.table(columns)


def _no_duplicate_columns(names: list[str], uri: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ManifestError(f"manifest {uri}: duplicate column name(s): {', '.join(dupes)}")


def _validate(raw: pa.Table, uri: str) -> pa.Table:
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.column_names]
    if missing:
        found = ", ".join(raw.column_names) or "none"
        raise ManifestError(f"manifest {uri} lacks required column(s) {', '.join(missing)} (found: {found})")
    if raw.num_rows == 0:
        raise ManifestError(f"manifest {uri} has a header but no rows")
    columns = {}
    for name in COLUMNS:
        if name in raw.column_names:
            columns[name] = raw.column(name).cast(pa.string())
        else:
            columns[name] = pa.nulls(raw.num_rows, pa.string())
    for name in REQUIRED_COLUMNS:
        col = columns[name]
        empty = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), "")).fill_null(True)
        bad = pc.indices_nonzero(empty)
        if len(bad):
            rows = ", ".join(str(i + 1) for i in bad.slice(0, _SHOW).to_pylist())
            raise ManifestError(
                f"manifest {uri}: {len(bad)} row(s) have an empty {name} (data row(s) {rows}"
                f"{', …' if len(bad) > _SHOW else ''})"
            )
    counts = pc.value_counts(columns["delivery_id"])
    dupes = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dupes):
        shown = ", ".join(
            f"{v['values']!r} ×{v['counts']}" for v in dupes.slice(0, _SHOW).to_pylist() if v is not None
        )
        raise ManifestError(
            f"manifest {uri}: {len(dupes)} delivery_id value(s) appear more than once, e.g. {shown}; "
            f"each delivery must be listed exactly once"
        )
    return pa.Table.from_arrays([pa.chunked_array(columns[n]) for n in COLUMNS], schema=SCHEMA)


# ---- staging: one row group per partition, a few per file -------------------------------------------------------
def partition_bounds(rows: int, partition_size: int) -> list[tuple[int, int]]:
    """(first row, row count) of each partition; partition k always covers the same rows of a given manifest."""
    if partition_size < 1:
        raise ManifestError(f"partition size must be ≥ 1, got {partition_size}")
    return [(start, min(partition_size, rows - start)) for start in range(0, rows, partition_size)]


_STAGED_ROWS_PER_FILE = 16_384
_STAGED_GROUPS_PER_FILE = 64
"""Bounds of one staged file. A task reads a whole staged file and parses its footer, which lists every row group
in it: a file per day would make each partition's read grow with the day (a million-row day's footer is
megabytes), a file per partition would cost the driver a PUT per partition. A file of a few partitions keeps
each read small and the same for any day."""


def partitions_per_file(partition_size: int) -> int:
    """How many partitions (row groups) one staged file holds."""
    return max(1, min(_STAGED_GROUPS_PER_FILE, _STAGED_ROWS_PER_FILE // max(1, partition_size)))


def _staged_file(path: str, number: int) -> str:
    return f"{path}/{number:05d}.parquet"


def stage_partitions(manifest: Manifest, uri: str, partition_size: int, io_cfg: IOConfig) -> int:
    """Write the validated rows under folder `uri` as Parquet files of a few partitions each, one row group per
    partition, in order (the last file written last: `is_staged`); returns the partition count."""
    fs, path = open_fs(uri, io_cfg)
    fs.makedirs(path, exist_ok=True)
    bounds = partition_bounds(manifest.rows, partition_size)
    per_file = partitions_per_file(partition_size)
    groups = 0
    for number, first in enumerate(range(0, len(bounds), per_file)):
        start, _ = bounds[first]
        end = sum(bounds[min(first + per_file, len(bounds)) - 1])
        written: list[Any] = []
        with fs.open(_staged_file(path, number), "wb") as fh:
            pq.write_table(
                manifest.table.slice(start, end - start),
                fh,
                row_group_size=partition_size,
                compression="zstd",
                metadata_collector=written,
            )
        groups += sum(m.num_row_groups for m in written)
    if groups != len(bounds):
        raise OSError(f"staged manifest {uri} has {groups} row groups, expected {len(bounds)}")
    return groups


def is_staged(uri: str, partitions: int, partition_size: int, io_cfg: IOConfig) -> bool:
    """Whether `stage_partitions` completed for this many partitions (its last file exists)."""
    fs, path = open_fs(uri, io_cfg)
    return bool(fs.exists(_staged_file(path, max(0, partitions - 1) // partitions_per_file(partition_size))))


def read_partition(uri: str, index: int, partition_size: int, io_cfg: IOConfig) -> pa.Table:
    """Partition `index` of a staged manifest (its row group) — what one task reads: one small file in one GET,
    whatever the size of the day."""
    per_file = partitions_per_file(partition_size)
    fs, path = open_fs(uri, io_cfg)
    data = fs.cat_file(_staged_file(path, index // per_file))
    return pq.ParquetFile(pa.BufferReader(data)).read_row_group(index % per_file)
