"""Scale and soak: a 20,000-row day through `podocr batch` end to end, with every process's memory watched.

What it proves: the run commits every row exactly once at this scale; memory stays bounded and flat —
sampled once a second (RSS, psutil) on the driver and each worker — so nothing accumulates per photo or per
partition; and the driver never holds the day (rows go from workers to storage; only one-row summaries come
back), so its memory does not grow while 20,000 rows are processed.

To fit CI (2 cores): 200 distinct synthetic photos, 320 px on the long side, each listed 100 times under
different delivery_ids; the cheapest model set (v6-tiny) with the ROI probe and the angle classifier off. The
OCR work per row is real; only the variety of photos is smaller than a real day's. `PODOCR_SOAK_ROWS` changes
the row count (docs/reliability.md records the measured run).
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
import pytest
from faultkit import batch_args, results_dir, running, staged_parts, start_batch
from jobkit import DATE, read_manifest_rows, write_manifest_rows

ROWS = int(os.environ.get("PODOCR_SOAK_ROWS", "20000"))
DISTINCT_PHOTOS = 200
PHOTO_SIDE = 320
PARTITION_SIZE = 500
SEED = 21
CHEAP = {  # the cheapest pipeline settings: one det + one rec pass on the small photo as it is
    "PODOCR__ROI__ENABLED": "false",
    "PODOCR__CLS__ENABLED": "false",
    "PODOCR__DET__MIN_SIDE": "0",
    "PODOCR__REC__MIN_WIDTH": "80",
    "PODOCR__JOB__OCR_BATCH_SIZE": "16",
}
MIB = 1024 * 1024
# Bounds, with the 20k-row run measured on a shared 2-core box for scale (docs/reliability.md):
# role → (peak RSS limit, allowed rise of the median RSS from the first to the second half of the run)
BOUNDS = {
    "worker": (1024 * MIB, 64 * MIB),  # Python + Dask + ONNX Runtime sessions + one partition: peak 699, +28
    "driver": (512 * MIB, 16 * MIB),  # Python + Dask client + the validated manifest: peak 247, +1
}


@dataclass
class Sample:
    t: float
    parts: int  # parts staged so far
    rss: dict[int, int]  # pid → bytes


@dataclass
class MemorySampler:
    """Samples the RSS of a process tree every `every_s` seconds on a thread (psutil, like `ps`)."""

    root_pid: int
    out: Path
    every_s: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)  # pid → driver | worker | helper
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.root_pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = {}
            for proc in procs:
                try:
                    rss[proc.pid] = proc.memory_info().rss
                    if proc.pid not in self.roles:
                        self.roles[proc.pid] = _role(proc, self.root_pid)
                except psutil.NoSuchProcess:
                    continue
            self.samples.append(Sample(time.monotonic(), len(staged_parts(self.out)), rss))
            self._stop.wait(self.every_s)

    def series(self, pid: int, since_part: int = 1) -> list[int]:
        """RSS of `pid` from the moment `since_part` parts were staged (models loaded, work under way)."""
        return [s.rss[pid] for s in self.samples if pid in s.rss and s.parts >= since_part]


def _role(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "driver"
    cmdline = " ".join(proc.cmdline())
    return "helper" if "resource_tracker" in cmdline else "worker"


def _soak_day(base_temp: Path, dest: Path) -> list[dict[str, str]]:
    """200 small synthetic photos (cached per session) and a ROWS-row manifest that cycles through them."""
    from podocr.synth import generate

    cache = base_temp / f"soak-photos-{SEED}-{DISTINCT_PHOTOS}-{PHOTO_SIDE}"
    if not cache.is_dir():
        tmp = cache.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(str(tmp), DISTINCT_PHOTOS, SEED, date=DATE, max_side=PHOTO_SIDE)
        tmp.rename(cache)
    shutil.copytree(cache / "images", dest / "images")
    photos = read_manifest_rows(cache)
    rows = [
        {**photos[i % len(photos)], "delivery_id": f"SOAK-{i:06d}"}  # same photo, expected fields, new id
        for i in range(ROWS)
    ]
    write_manifest_rows(dest, rows)
    return rows


def _committed_ids(out: Path) -> tuple[dict[str, Any], list[str], dict[str, int]]:
    """(_SUCCESS, delivery ids, status counts), reading only two columns of the parts `_SUCCESS` lists."""
    import json

    folder = results_dir(out)
    success = json.loads((folder / "_SUCCESS").read_text())
    ids: list[str] = []
    statuses: dict[str, int] = {}
    for name in success["files"]:
        table = pq.read_table(folder / name, columns=["delivery_id", "status"])
        ids += table.column("delivery_id").to_pylist()
        for status in table.column("status").to_pylist():
            statuses[status] = statuses.get(status, 0) + 1
    return success, ids, statuses


def _halves(series: list[int]) -> tuple[float, float]:
    half = len(series) // 2
    return statistics.median(series[:half]), statistics.median(series[half:])


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_soak_20k_rows_commit_exactly_once_with_flat_bounded_memory(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    day, out = tmp_path / "in", tmp_path / "out"
    rows = _soak_day(tmp_path_factory.getbasetemp(), day)
    args = batch_args(
        day,
        out,
        "--partition-size",
        str(PARTITION_SIZE),
        "--n-workers",
        "2",
        "--threads-per-worker",
        "1",
        "--json",
    )
    t0 = time.monotonic()
    batch = start_batch(args, tmp_path / "logs", env=CHEAP)
    with running(batch), MemorySampler(batch.pid, out) as sampler:
        code = batch.wait(timeout=1400)
    wall_s = time.monotonic() - t0
    assert code == 0, batch.stderr[-3000:]

    success, ids, statuses = _committed_ids(out)
    assert len(ids) == len(set(ids)) == ROWS and set(ids) == {r["delivery_id"] for r in rows}
    assert success["rows"] == ROWS and success["partitions"] == -(-ROWS // PARTITION_SIZE)
    assert statuses.get("error", 0) == 0, success["counts"]
    assert sum(statuses.values()) == ROWS

    report = [
        f"soak: {ROWS} rows ({DISTINCT_PHOTOS} distinct {PHOTO_SIDE}px photos) in {wall_s:.0f}s wall, "
        f"process {success['durations']['process_s']:.0f}s = {success['photos_per_s']:.1f} photos/s; "
        f"statuses {statuses}; {len(sampler.samples)} samples"
    ]
    workers = [pid for pid, role in sampler.roles.items() if role == "worker"]
    assert len(workers) == 2, sampler.roles
    for pid, role in sorted(sampler.roles.items(), key=lambda kv: kv[1]):
        if role == "helper":
            continue
        series = sampler.series(pid)
        assert len(series) >= 20, f"{role} {pid}: only {len(series)} samples while partitions ran"
        first, second = _halves(series)
        peak = max(s.rss.get(pid, 0) for s in sampler.samples)
        report.append(
            f"  {role} {pid}: peak {peak / MIB:.0f} MiB, median {first / MIB:.0f} → {second / MIB:.0f} MiB "
            f"(first → second half of {len(series)} samples)"
        )
        limit, tolerance = BOUNDS[role]
        assert peak < limit, report[-1]
        assert second - first < tolerance, f"memory grows during the run: {report[-1]}"
    print("\n".join(report))
