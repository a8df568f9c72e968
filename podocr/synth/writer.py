"""Write a synthetic batch: images, labels.jsonl (the ground-truth contract), manifest.csv, dated manifest.

Photos are rendered in parallel processes, each writing its own JPEG through fsspec (so `s3://` works
the same as a folder); the parent writes the small text files in index order, so the bytes of the whole
batch depend only on (n, seed), never on the number of workers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import fsspec

from podocr.io.manifest import COLUMNS
from podocr.synth.render import render
from podocr.synth.scene import DEFAULT_DISTRIBUTION, Distribution, sample_scene

LABELS_FILE = "labels.jsonl"
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = COLUMNS  # what the batch job's manifest reader takes
GENERATOR_VERSION = "2"  # bump when the same seed would draw different photos


@dataclass(frozen=True, slots=True)
class SynthSummary:
    out: str
    n: int
    seed: int
    date: str | None
    workers: int
    seconds: float
    photos_per_s: float
    image_bytes: int
    labels_path: str
    manifest_path: str
    dated_manifest_path: str | None
    carriers: dict[str, int]
    mismatches: int
    hard_negatives: int
    unreadable: int


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _make_one(args: tuple[str, int, int, Distribution, dict[str, Any]]) -> tuple[dict[str, Any], int]:
    out, seed, index, dist, storage_options = args
    photo = render(sample_scene(seed, index, dist))
    fs, root = fsspec.url_to_fs(out, **storage_options)
    with fs.open(_join(root, photo.record["file"]), "wb") as fh:
        fh.write(photo.jpeg)
    return photo.record, len(photo.jpeg)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; threads inside would only fight over them


def manifest_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One manifest row per photo, from each record's `expected` block (see docs/synth.md)."""
    rows = []
    for rec in records:
        exp = rec["expected"]
        rows.append(
            {
                "delivery_id": rec["id"],
                "image_uri": rec["file"],
                "expected_name": exp["name"],
                "expected_street": exp["street"],
                "expected_city": exp["city"],
                "expected_state": exp["state"],
                "expected_zip": exp["zip"],
                "expected_tracking": exp["tracking"],
            }
        )
    return rows


def _csv_text(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _check_date(date: str | None) -> None:
    if date is not None:
        try:
            dt.date.fromisoformat(date)
        except ValueError as exc:
            raise ValueError(f"--date must be YYYY-MM-DD, got {date!r}") from exc


def generate(
    out: str | os.PathLike[str],
    n: int,
    seed: int,
    date: str | None = None,
    workers: int = 1,
    *,
    storage_options: dict[str, Any] | None = None,
    max_side: int | None = None,
    progress: bool = False,
) -> SynthSummary:
    """Render photos 0..n-1 of batch `seed` into `out` (a folder or an fsspec URL such as s3://bucket/prefix).

    `max_side` shrinks every frame (same content, smaller pixels) for fast tests; leave it None for the
    documented distribution.
    """
    if n < 0:
        raise ValueError("n must be ≥ 0")
    out = os.fspath(out)
    _check_date(date)
    opts = dict(storage_options or {})
    dist = DEFAULT_DISTRIBUTION if max_side is None else replace(DEFAULT_DISTRIBUTION, max_side=max_side)
    fs, root = fsspec.url_to_fs(out, **opts)
    fs.makedirs(_join(root, "images"), exist_ok=True)
    jobs = [(out, seed, i, dist, opts) for i in range(n)]
    started = time.perf_counter()
    results: list[tuple[dict[str, Any], int]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="photo", desc="synth")
    workers = max(1, min(int(workers), n or 1))
    if workers == 1:
        for job in jobs:
            results.append(_make_one(job))
            if bar is not None:
                bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork: cv2/BLAS threads do not survive it cleanly
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            for res in pool.map(_make_one, jobs, chunksize=2):
                results.append(res)
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    records = [rec for rec, _ in results]

    labels_path = _join(root, LABELS_FILE)
    with fs.open(labels_path, "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n")
    csv_text = _csv_text(manifest_rows(records))
    manifest_path = _join(root, MANIFEST_FILE)
    with fs.open(manifest_path, "w") as fh:
        fh.write(csv_text)
    dated = None
    if date is not None:
        dated = _join(root, "manifests", f"date={date}", MANIFEST_FILE)
        fs.makedirs(_join(root, "manifests", f"date={date}"), exist_ok=True)
        with fs.open(dated, "w") as fh:
            fh.write(csv_text)
    with fs.open(_join(root, "synth.json"), "w") as fh:
        meta = {
            "generator_version": GENERATOR_VERSION,
            "n": n,
            "seed": seed,
            "date": date,
            "max_side": max_side,
        }
        meta["distribution"] = asdict(dist)
        fh.write(json.dumps(meta, indent=1, default=list) + "\n")
    seconds = time.perf_counter() - started

    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if proto in ("file", "local") else f"{proto}://"
    return SynthSummary(
        out=out,
        n=n,
        seed=seed,
        date=date,
        workers=workers,
        seconds=round(seconds, 3),
        photos_per_s=round(n / seconds, 3) if seconds > 0 else 0.0,
        image_bytes=sum(b for _, b in results),
        labels_path=prefix + labels_path,
        manifest_path=prefix + manifest_path,
        dated_manifest_path=(prefix + dated) if dated else None,
        carriers=dict(sorted(Counter(r["carrier"] for r in records).items())),
        mismatches=sum(not r["expected_matches"] for r in records),
        hard_negatives=sum(r["condition"]["hard_negative"] for r in records),
        unreadable=sum(r["condition"]["unreadable"] for r in records),
    )


def load_labels(
    path: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The records of a batch folder (or its labels.jsonl itself), in id order."""
    path = os.fspath(path)
    target = path if path.endswith(".jsonl") else _join(path, LABELS_FILE)
    with fsspec.open(target, "r", **(storage_options or {})) as fh:
        return [json.loads(line) for line in fh if line.strip()]
