"""Helpers for the batch-job tests: a tiny synthetic day, bad photos, configs, and reading a committed day back.

Plain functions (not fixtures) so test_job_local and test_job_s3 share them; the synthetic day is generated
once per test session into pytest's base temp folder and copied from there.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from podocr.config import PodocrConfig
from podocr.io.errors import ErrorCode

DATE = "2026-11-26"
N_PHOTOS = 8
SEED = 11
MAX_SIDE = 640  # smaller frames, same content: the job tests stay fast on 2 cores
MODEL_SET = "v6-tiny"  # the cheapest real model set: these tests are about the job, not accuracy


def synth_day(base_temp: Path, dest: Path) -> Path:
    """A copy of the session's synthetic day (images/, labels.jsonl, manifests/date=DATE/manifest.csv)."""
    from podocr.synth import generate

    cache = base_temp / f"job-synth-{SEED}-{N_PHOTOS}"
    if not (cache / "manifests" / f"date={DATE}" / "manifest.csv").is_file():
        tmp = base_temp / f"job-synth-{SEED}-{N_PHOTOS}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        generate(str(tmp), N_PHOTOS, SEED, date=DATE, max_side=MAX_SIDE)
        tmp.rename(cache)
    shutil.copytree(cache, dest)
    return dest


def manifest_path(root: Path, date: str = DATE) -> Path:
    return root / "manifests" / f"date={date}" / "manifest.csv"


def read_manifest_rows(root: Path) -> list[dict[str, str]]:
    with open(manifest_path(root), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_manifest_rows(root: Path, rows: list[dict[str, str]], date: str = DATE) -> None:
    path = manifest_path(root, date)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def add_bad_photos(root: Path) -> dict[str, ErrorCode]:
    """Broken photos next to the good ones, listed in the manifest; returns {delivery_id: expected code}."""
    rows = read_manifest_rows(root)
    good = root / rows[0]["image_uri"]
    bad = root / "images" / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "zero.jpg").write_bytes(b"")
    (bad / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (bad / "notes.jpg").write_text("this is a text file, not a photo\n")
    expected = {
        "BAD-ZERO": ("images/bad/zero.jpg", ErrorCode.EMPTY_FILE),
        "BAD-TRUNC": ("images/bad/truncated.jpg", ErrorCode.DECODE_FAILED),
        "BAD-TEXT": ("images/bad/notes.jpg", ErrorCode.UNSUPPORTED_FORMAT),
        "BAD-MISSING": ("images/bad/missing.jpg", ErrorCode.NOT_FOUND),
        "BAD-ESCAPE": ("../../etc/passwd", ErrorCode.URI_NOT_ALLOWED),
    }
    rows += [{"delivery_id": k, "image_uri": uri} for k, (uri, _) in expected.items()]
    write_manifest_rows(root, rows)
    return {k: code for k, (_, code) in expected.items()}


def job_config(input_uri: str, output_uri: str, **overrides: Any) -> PodocrConfig:
    """Test defaults: the tiny model set, small partitions, no progress bar, no HTML report."""
    settings: dict[str, Any] = {
        "models.set": MODEL_SET,
        "job.input": input_uri,
        "job.output": output_uri,
        "job.partition_size": 4,
        "job.ocr_batch_size": 4,
        "job.progress": False,
        "job.report": False,
        "job.dashboard_address": "",
        "job.retries": 1,
        "io.fetch_threads": 4,
        "cls.enabled": False,  # the 180° line classifier is not what these tests are about; it costs ~20%
    }
    settings.update({k.replace("__", "."): v for k, v in overrides.items()})
    return PodocrConfig.load(overrides=settings, environ={})


def read_day(fs: Any, output_path: str, date: str = DATE) -> tuple[dict[str, Any], pa.Table]:
    """(_SUCCESS, the rows of exactly the parts it lists) — how a careful reader consumes a day."""
    import json

    folder = f"{output_path}/ocr_results/date={date}"
    fs.invalidate_cache()
    success = json.loads(fs.cat_file(f"{folder}/_SUCCESS"))
    tables = []
    for name in success["files"]:
        with fs.open(f"{folder}/{name}", "rb") as fh:
            tables.append(pq.read_table(fh))
    return success, pa.concat_tables(tables)
