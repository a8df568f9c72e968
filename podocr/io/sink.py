"""Where results go: the Parquet schema, atomic part writes, and the commit protocol that publishes a day.

Layout under `{output}`:

    _staging/date=D/run=<run_id>/_run.json          what the run is (manifest sha256, partition size, …)
    _staging/date=D/run=<run_id>/manifest/          the validated manifest: files of a few partitions, a row group each
    _staging/date=D/run=<run_id>/part-NNNNN.parquet one per partition, deterministic names (retries overwrite)
    ocr_results/date=D/part-NNNNN-<run_id>.parquet  the committed day: run-unique names (io/publish.py)
    ocr_results/date=D/_SUCCESS                     JSON, written after the parts: run id, counts, the parts

A part exists only once complete (temp file + rename locally; a single PUT on S3), so "part present" is the
resume test. The day is published only after every partition succeeded and the row count equals the
manifest's (io/publish.py). `date` lives in the hive path only — it is not a file column, so readers never see
two `date` types. See docs/schema.md.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyarrow.fs import FSSpecHandler, PyFileSystem

from podocr.io.manifest import EXPECTED_COLUMNS

SCHEMA_VERSION = 1
RESULTS_DIR = "ocr_results"
STAGING_DIR = "_staging"
SUCCESS = "_SUCCESS"
RUN_META = "_run.json"
STAGED_MANIFEST = "manifest"  # a folder: io/manifest.py stage_partitions

_f32 = pa.float32()
LINE = pa.struct([("text", pa.string()), ("confidence", _f32), ("quad", pa.list_(pa.list_(_f32)))])
TIMINGS = (
    "fetch_s",
    "decode_s",
    "roi_s",
    "det_s",
    "crop_s",
    "cls_s",
    "rec_s",
    "deblur_s",
    "barcode_s",
    "extract_s",
    "total_s",
)
EXTRACTED_STR = ("recipient_name", "recipient_company", "street", "unit", "city", "state", "zip")
EXPECTED = EXPECTED_COLUMNS  # echoed from the manifest
EXTRACTION_EXTRA = ("mismatch_kind", "field_agreement", "tracking_source", "tracking_numbers", "barcodes",
                    "barcode_zip")  # fmt: skip
"""Extraction fields copied as they are into columns of the same name."""

SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("delivery_id", pa.string(), nullable=False),
        pa.field("image_uri", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # ok | no_text | error
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("image_sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("format", pa.string()),
        ("exif_orientation", pa.int32()),
        ("lines", pa.list_(LINE)),
        ("full_text", pa.string()),
        ("n_lines", pa.int32()),
        ("mean_confidence", _f32),
        ("rotation", pa.int32()),
        ("roi", pa.list_(pa.int32())),
        ("tracking_number", pa.string()),
        ("carrier", pa.string()),
        ("tracking_valid", pa.bool_()),
        ("tracking_repaired", pa.bool_()),
        *[(name, pa.string()) for name in EXTRACTED_STR],
        ("verification", pa.string()),
        ("verification_reason", pa.string()),
        ("address_match_score", _f32),
        ("field_scores", pa.map_(pa.string(), _f32)),
        ("mismatch_kind", pa.string()),  # other_parcel | address_differs | recipient_differs
        ("field_agreement", pa.map_(pa.string(), pa.string())),  # field → agrees | differs | unsure
        ("tracking_source", pa.string()),  # barcode | ocr | both
        (
            "tracking_numbers",
            pa.list_(pa.struct([("number", pa.string()), ("carrier", pa.string()), ("source", pa.string())])),
        ),  # number, carrier, source
        ("barcodes", pa.list_(pa.struct([("symbology", pa.string()), ("payload", pa.string())]))),
        ("barcode_zip", pa.string()),
        *[(name, pa.string()) for name in EXPECTED],
        *[(name, pa.float64()) for name in TIMINGS],
        ("model_set", pa.string()),
        ("model_versions", pa.map_(pa.string(), pa.string())),
        ("provider", pa.string()),
        pa.field("processed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        ("worker", pa.string()),
    ],
    metadata={"podocr.schema_version": str(SCHEMA_VERSION)},
)


# ---- paths ----------------------------------------------------------------------------------------------------
def part_name(partition: int, run_id: str = "") -> str:
    """A staged part's name, or with `run_id` a committed part's: unique to its run, so publishing a new run
    never overwrites a file that the current `_SUCCESS` lists."""
    return f"part-{partition:05d}-{run_id}.parquet" if run_id else f"part-{partition:05d}.parquet"


_PART = re.compile(r"^part-(\d{5,})(?:-[0-9A-Za-z_-]+)?\.parquet$")


def partition_of(name: str) -> int | None:
    """The partition index in `part-NNNNN[-<run_id>].parquet`, None for anything else (temp files, markers)."""
    match = _PART.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class DayLayout:
    """Paths of one day under an output root, as fsspec paths (no protocol) on `fs`."""

    root: str  # output root path on fs, no trailing slash
    date: str

    @property
    def results(self) -> str:
        return f"{self.root}/{RESULTS_DIR}/date={self.date}"

    @property
    def staging_day(self) -> str:
        return f"{self.root}/{STAGING_DIR}/date={self.date}"

    def staging(self, run_id: str) -> str:
        return f"{self.staging_day}/run={run_id}"


# ---- writing ----------------------------------------------------------------------------------------------------
def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts keyed by SCHEMA names; missing keys are null) → a table with exactly SCHEMA."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_parquet_atomic(fs: Any, table: pa.Table, path: str, row_group_size: int | None = None) -> None:
    """Write `table` so that `path` is either absent or complete: temp + rename locally, one PUT elsewhere."""
    kwargs: dict[str, Any] = {
        "compression": "zstd",
        "row_group_size": row_group_size or max(1, table.num_rows),
        "write_statistics": True,
        "use_compliant_nested_type": True,
        "store_schema": False,  # no pandas/arrow blobs: plain Parquet for Spark/Athena/DuckDB
    }
    if _is_local(fs):
        folder, name = path.rsplit("/", 1)
        tmp = f"{folder}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
        fs.makedirs(folder, exist_ok=True)
        try:
            with fs.open(tmp, "wb") as fh:
                pq.write_table(table, fh, **kwargs)
            fs.mv(tmp, path)
        finally:
            if fs.exists(tmp):
                fs.rm(tmp)
    else:
        with fs.open(path, "wb") as fh:
            pq.write_table(table, fh, **kwargs)


def write_json_atomic(fs: Any, data: dict[str, Any], path: str) -> None:
    body = (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode()
    if _is_local(fs):
        folder, name = path.rsplit("/", 1)
        fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
        fs.pipe_file(tmp, body)
        fs.mv(tmp, path)
    else:
        fs.pipe_file(path, body)


def read_json(fs: Any, path: str) -> dict[str, Any] | None:
    if not fs.isfile(path):
        return None
    return json.loads(fs.cat_file(path))


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


# ---- reading back ---------------------------------------------------------------------------------------------
def staged_parts(fs: Any, folder: str) -> dict[int, str]:
    """{partition: path} of the complete parts in a folder (temp files and markers are ignored)."""
    if not fs.isdir(folder):
        return {}
    fs.invalidate_cache(folder)
    out = {}
    for path in fs.ls(folder, detail=False):
        index = partition_of(path.rsplit("/", 1)[-1])
        if index is not None:
            out[index] = path
    return out


def part_rows(fs: Any, path: str) -> int:
    with fs.open(path, "rb") as fh:
        return int(pq.ParquetFile(fh).metadata.num_rows)


def count_values(fs: Any, paths: Iterable[str], columns: Iterable[str]) -> dict[str, dict[str, int]]:
    """{column: {value: count}} over the given parts — what `_SUCCESS` reports, read from the data itself.

    Counted batch by batch, so the driver holds one record batch, not the day's columns: at a million rows the
    whole table would be most of what the driver holds while it publishes."""
    cols = list(columns)
    dataset = pads.dataset(list(paths), format="parquet", filesystem=PyFileSystem(FSSpecHandler(fs)))
    out: dict[str, dict[str, int]] = {name: {} for name in cols}
    for batch in dataset.to_batches(columns=cols):
        for name in cols:
            seen = out[name]
            for c in batch.column(name).value_counts().to_pylist():
                if c["values"] is not None:
                    key = str(c["values"])
                    seen[key] = seen.get(key, 0) + int(c["counts"])
    return out
