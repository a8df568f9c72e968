"""Open committed result days as one DuckDB view — the same reader for the report, the notebooks and ad-hoc SQL.

Why through `_SUCCESS` and pyarrow: `_SUCCESS` lists the files of the committed run (docs/schema.md), so a
reader never mixes a half-replaced day on S3; pyarrow over fsspec reads local disk and s3:// with the same
credentials/endpoint settings as the job (`IOConfig`), and DuckDB scans the Arrow dataset lazily, so a large
day is aggregated without loading every photo's lines into memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
from pyarrow.fs import FSSpecHandler, PyFileSystem

from podocr.config import IOConfig
from podocr.io.sink import RESULTS_DIR, SCHEMA, SUCCESS, partition_of
from podocr.io.storage import open_fs

VIEW = "results"
DATE_FIELD = pa.field("date", pa.date32())


class ResultsNotFound(FileNotFoundError):
    """No committed day (no `_SUCCESS`) where one was asked for."""


@dataclass
class Day:
    """One committed day: its `_SUCCESS` document and the part files it names (fsspec paths)."""

    date: str
    success: dict[str, Any]
    parts: list[str] = field(default_factory=list)


def results_root(output_uri: str) -> str:
    return f"{output_uri.rstrip('/')}/{RESULTS_DIR}"


def day_folder(output_uri: str, date: str) -> str:
    return f"{results_root(output_uri)}/date={date}"


def committed_days(output_uri: str, io_cfg: IOConfig, dates: list[str] | None = None) -> list[Day]:
    """The committed days under `output_uri` (all, or just `dates`), oldest first; uncommitted days are skipped."""
    fs, root = open_fs(results_root(output_uri), io_cfg)
    if dates is None:
        fs.invalidate_cache(root)
        folders = fs.glob(f"{root}/date=*") if fs.isdir(root) else []
        dates = sorted(p.rsplit("date=", 1)[-1] for p in folders)
    days = []
    for date in dates:
        folder = f"{root}/date={date}"
        marker = f"{folder}/{SUCCESS}"
        if not fs.isfile(marker):
            continue
        success = json.loads(fs.cat_file(marker))
        names = success.get("files")
        if names is None:  # a marker without a file list: every complete part in the folder
            names = sorted(
                n
                for n in (p.rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False))
                if partition_of(n) is not None
            )
        days.append(Day(date=date, success=success, parts=[f"{folder}/{n}" for n in names]))
    return days


def connect(
    output_uri: str,
    io_cfg: IOConfig | None = None,
    dates: list[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a `results` view over the committed days (plus a `date` column from the path).

    Raises ResultsNotFound when none of the asked-for days is committed.
    """
    io_cfg = io_cfg or IOConfig()
    days = committed_days(output_uri, io_cfg, dates)
    if not days:
        wanted = ", ".join(dates) if dates else "any date"
        raise ResultsNotFound(
            f"no committed results ({SUCCESS}) for {wanted} under {results_root(output_uri)}"
        )
    fs, root = open_fs(results_root(output_uri), io_cfg)
    dataset = pads.dataset(
        [p for d in days for p in d.parts],
        schema=SCHEMA.append(DATE_FIELD),
        format="parquet",
        filesystem=PyFileSystem(FSSpecHandler(fs)),
        partitioning=pads.partitioning(pa.schema([DATE_FIELD]), flavor="hive"),
        partition_base_dir=root,
    )
    con = con or duckdb.connect()
    con.register(f"{VIEW}_arrow", dataset)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW} AS SELECT * FROM {VIEW}_arrow")
    return con
