"""Peak memory of one Dask worker over consecutive partitions of the real `podocr batch` job.

Builds a dated day whose manifest cycles over the photos of a synthetic folder (`podocr synth` output:
images/ + manifest.csv), runs `podocr batch` as a subprocess with ONE single-threaded worker process (so the
partitions run one after another in the same process), and samples the worker's RSS (and, less often, USS)
with psutil. Each sample is attributed to the partition being processed: the worker does not log (only the
job process has podocr's log handler), so partition boundaries come from the staged part files
(`_staging/.../part-NNNNN.parquet`, written atomically at the end of each partition: their mtimes), and the
start of processing from `_SUCCESS.durations` (cluster start + model warm-up after the manifest was staged).

    .venv/bin/python benchmarks/worker_memory.py --photos data/bench300 --partitions 10 --partition-size 256 \
        --json out/worker_memory.json

Prints a per-partition table, the overall peak, growth (last 3 partitions' peak minus the first 3's, and a
least-squares slope of per-partition peaks) and a verdict line; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

DATE = "2026-11-27"
MIB = 1024 * 1024
LIMIT_MIB = 2048.0
FLAT_FRAC = 0.05


# ---- the day ----------------------------------------------------------------------------------------------------
def build_day(photos: Path, work: Path, rows: int, date: str) -> dict[str, Any]:
    """`work/input/manifests/date=D/manifest.csv` with `rows` rows cycling over `photos/manifest.csv`."""
    with (photos / "manifest.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        source = list(reader)
    if not source:
        raise SystemExit(f"{photos}/manifest.csv has no rows")
    folder = work / "input" / "manifests" / f"date={date}"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for i in range(rows):
            row = dict(source[i % len(source)])
            row["delivery_id"] = f"wm{i:06d}-{row['delivery_id']}"  # unique per row
            writer.writerow(row)
    megapixels = _megapixels(photos, [source[i % len(source)] for i in range(rows)])
    return {
        "rows": rows,
        "unique_photos": min(rows, len(source)),
        "source_photos": len(source),
        "repeats_per_photo": round(rows / len(source), 2),
        "megapixels": megapixels,
    }


def _megapixels(photos: Path, rows: list[dict[str, str]]) -> dict[str, float] | None:
    labels = photos / "labels.jsonl"
    if not labels.is_file():
        return None
    size: dict[str, float] = {}
    for line in labels.read_text().splitlines():
        rec = json.loads(line)
        size[rec["file"]] = rec["width"] * rec["height"] / 1e6
    mp = [size[r["image_uri"]] for r in rows if r["image_uri"] in size]
    if not mp:
        return None
    return {
        "min": round(min(mp), 2),
        "median": round(statistics.median(mp), 2),
        "mean": round(statistics.fmean(mp), 2),
        "max": round(max(mp), 2),
    }


# ---- sampling ---------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    t: float  # time.time()
    pid: int
    rss: int
    uss: int | None


@dataclass
class Sampler:
    """Polls the job's process tree: worker RSS every `interval` s, USS every `uss_every` s, staged part files."""

    job: psutil.Popen
    staging_day: Path
    interval: float = 0.25
    uss_every: float = 2.0
    samples: list[Sample] = field(default_factory=list)
    job_rss_peak: int = 0
    parts: dict[int, float] = field(default_factory=dict)  # partition → mtime of its staged part
    roles: dict[int, str] = field(default_factory=dict)  # pid → cmdline summary
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        last_uss = 0.0
        while not self.stop.is_set():
            t0 = time.time()
            want_uss = t0 - last_uss >= self.uss_every
            for proc in self._workers():
                try:
                    if want_uss:
                        full = proc.memory_full_info()
                        self.samples.append(Sample(t0, proc.pid, full.rss, full.uss))
                    else:
                        self.samples.append(Sample(t0, proc.pid, proc.memory_info().rss, None))
                except psutil.Error:
                    continue
            if want_uss:
                last_uss = t0
            with contextlib.suppress(psutil.Error):
                self.job_rss_peak = max(self.job_rss_peak, self.job.memory_info().rss)
            self._scan_parts()
            self.stop.wait(max(0.0, self.interval - (time.time() - t0)))

    def _workers(self) -> list[psutil.Process]:
        """Dask worker processes: spawned children of the job (its Nannies live in the job process itself)."""
        try:
            children = self.job.children(recursive=True)
        except psutil.Error:
            return []
        out = []
        for proc in children:
            try:
                cmd = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if proc.pid not in self.roles:
                self.roles[proc.pid] = cmd[:200]
            if "spawn_main" in cmd and "resource_tracker" not in cmd:
                out.append(proc)
        return out

    def _scan_parts(self) -> None:
        if not self.staging_day.is_dir():
            return
        for part in self.staging_day.glob("run=*/part-*.parquet"):
            stem = part.name[5:-8]
            if stem.isdigit() and int(stem) not in self.parts:
                try:
                    self.parts[int(stem)] = part.stat().st_mtime
                except OSError:
                    continue


# ---- analysis ---------------------------------------------------------------------------------------------------
def analyse(
    samples: list[Sample], parts: dict[int, float], process_start: float | None, sizes: dict[int, int]
) -> dict[str, Any]:
    """Attribute samples to partitions (in completion order) and summarise per partition and overall."""
    by_pid: dict[int, int] = {}
    for s in samples:
        by_pid[s.pid] = max(by_pid.get(s.pid, 0), s.rss)
    order = sorted(parts, key=parts.get)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    first = start = process_start if process_start is not None else (samples[0].t if samples else 0.0)
    before = [s for s in samples if s.t < start]
    for n, p in enumerate(order):
        end = parts[p]
        inside = [s for s in samples if start <= s.t <= end]
        uss = [s.uss for s in inside if s.uss is not None]
        rows.append(
            {
                "order": n + 1,
                "partition": p,
                "photos": sizes.get(p),
                "seconds": round(end - start, 1),
                "samples": len(inside),
                "peak_rss_mib": round(max((s.rss for s in inside), default=0) / MIB, 1),
                "end_rss_mib": round(inside[-1].rss / MIB, 1) if inside else None,
                "peak_uss_mib": round(max(uss) / MIB, 1) if uss else None,
                "pids": sorted({s.pid for s in inside}),
            }
        )
        start = end
    peaks = [r["peak_rss_mib"] for r in rows]
    overall = max((s.rss for s in samples), default=0) / MIB
    uss_all = [s.uss for s in samples if s.uss is not None]
    k = min(3, len(peaks) // 2) or 1
    growth = (max(peaks[-k:]) - max(peaks[:k])) if peaks else 0.0
    slope = _slope(peaks)
    return {
        "partitions": rows,
        "startup": {
            "seconds": round(first - samples[0].t, 1) if samples else None,
            "peak_rss_mib": round(max((s.rss for s in before), default=0) / MIB, 1),
            "end_rss_mib": round(before[-1].rss / MIB, 1) if before else None,
        },
        "peak_rss_mib": round(overall, 1),
        "peak_uss_mib": round(max(uss_all) / MIB, 1) if uss_all else None,
        "growth_window": k,
        "growth_mib": round(growth, 1),
        "growth_frac_of_peak": round(growth / overall, 4) if overall else None,
        "slope_mib_per_partition": round(slope, 2) if slope is not None else None,
        "end_rss_first_last_mib": [rows[0]["end_rss_mib"], rows[-1]["end_rss_mib"]] if rows else None,
        "worker_pids": {str(pid): round(rss / MIB, 1) for pid, rss in by_pid.items()},
        "samples": len(samples),
        "timeline_5s_max_rss_mib": _timeline(samples, 5.0),
    }


def _timeline(samples: list[Sample], bucket: float) -> list[list[float]]:
    """[seconds since the first sample, max worker RSS (MiB) in that bucket] — the samples, summarised."""
    if not samples:
        return []
    t0 = samples[0].t
    out: dict[int, int] = {}
    for s in samples:
        b = int((s.t - t0) // bucket)
        out[b] = max(out.get(b, 0), s.rss)
    return [[round(b * bucket, 1), round(v / MIB, 1)] for b, v in sorted(out.items())]


def _slope(values: list[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, statistics.fmean(values)
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def verdict(result: dict[str, Any]) -> str:
    under = result["peak_rss_mib"] < LIMIT_MIB
    frac = result["growth_frac_of_peak"]
    flat = frac is not None and frac < FLAT_FRAC
    return (
        f"VERDICT: worker peak RSS {result['peak_rss_mib']:.0f} MiB → under 2 GiB: {'yes' if under else 'NO'}; "
        f"growth last-{result['growth_window']} vs first-{result['growth_window']} partitions "
        f"{result['growth_mib']:+.0f} MiB ({100 * (frac or 0):+.1f} % of peak), slope "
        f"{result['slope_mib_per_partition']} MiB/partition → flat (< 5 %): {'yes' if flat else 'NO'}"
    )


def table(result: dict[str, Any]) -> str:
    lines = [
        "| # | partition | photos | seconds | worker peak RSS (MiB) | RSS at end (MiB) | peak USS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    st = result["startup"]
    lines.append(
        f"| 0 | start-up (cluster + model load) | – | {st['seconds']} | {st['peak_rss_mib']} | {st['end_rss_mib']} | – |"
    )
    for r in result["partitions"]:
        lines.append(
            f"| {r['order']} | {r['partition']} | {r['photos']} | {r['seconds']} | {r['peak_rss_mib']} | {r['end_rss_mib']} "
            f"| {r['peak_uss_mib'] if r['peak_uss_mib'] is not None else '–'} |"
        )
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=Path("data/bench300"), help="podocr synth folder")
    ap.add_argument("--partitions", type=int, default=10)
    ap.add_argument("--partition-size", type=int, default=256)
    ap.add_argument(
        "--work", type=Path, default=None, help="folder for the day (default: a temp dir, removed)"
    )
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    ap.add_argument("--interval", type=float, default=0.25, help="RSS sampling period (s)")
    ap.add_argument("--uss-every", type=float, default=2.0, help="USS (smaps walk) sampling period (s)")
    ap.add_argument("--date", default=DATE)
    args = ap.parse_args(argv)

    photos = args.photos.resolve()
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="podocr-wm-"))
    rows = args.partitions * args.partition_size
    day = build_day(photos, work, rows, args.date)
    print(
        f"day: {rows} rows = {args.partitions} partitions × {args.partition_size}, cycling over "
        f"{day['source_photos']} photos of {photos} (each photo ≈{day['repeats_per_photo']}× ; "
        f"MP min/median/max {day['megapixels']})",
        flush=True,
    )
    output = work / "output"
    if output.exists():
        shutil.rmtree(output)
    cmd = [
        str(Path(sys.executable).with_name("podocr")),
        "batch",
        "--date",
        args.date,
        "--input",
        str(work / "input"),
        "--output",
        str(output),
        "--images-root",
        str(photos),
        "--partition-size",
        str(args.partition_size),
        "--n-workers",
        "1",
        "--no-progress",
        "--json",
    ]
    env = {
        **os.environ,
        "PODOCR__JOB__REPORT": "false",
        "PODOCR__JOB__DASHBOARD_ADDRESS": "",
    }
    print(
        "running:", " ".join(cmd), "(PODOCR__JOB__REPORT=false PODOCR__JOB__DASHBOARD_ADDRESS='')", flush=True
    )
    t_start = time.time()
    log_path = work / "batch.log"
    with log_path.open("w") as err:
        job = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        sampler = Sampler(
            job, output / "_staging" / f"date={args.date}", interval=args.interval, uss_every=args.uss_every
        )
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        stdout, _ = job.communicate()
        sampler.stop.set()
        thread.join()
    wall = time.time() - t_start
    if job.returncode != 0:
        print(f"podocr batch exited {job.returncode}; stderr in {log_path}:", file=sys.stderr)
        print(log_path.read_text()[-3000:], file=sys.stderr)
        return 1
    success = json.loads(stdout)
    d = success.get("durations", {})
    process_start = None
    if sampler.parts and "process_s" in d:
        # processing ends when the last part lands: start = last part's mtime − process_s (± a few ms)
        process_start = max(sampler.parts.values()) - float(d["process_s"])
    sizes = {p: args.partition_size for p in range(args.partitions)}
    sizes[args.partitions - 1] = rows - args.partition_size * (args.partitions - 1)
    result = analyse(sampler.samples, sampler.parts, process_start, sizes)
    result.update(
        command=" ".join(sys.argv),
        batch_command=" ".join(cmd),
        day=day,
        wall_s=round(wall, 1),
        job_process_peak_rss_mib=round(sampler.job_rss_peak / MIB, 1),
        processes=sampler.roles,
        success={
            k: success.get(k) for k in ("run_id", "photos_per_s", "durations", "cluster", "counts", "rows")
        },
        machine={
            "cores": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)),
            "mem_gib": round(psutil.virtual_memory().total / 1024**3, 1),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        interval_s=args.interval,
        uss_every_s=args.uss_every,
    )
    result["verdict"] = verdict(result)
    cl = success.get("cluster", {})
    print(
        f"job: {success.get('rows')} rows in {wall:.0f} s wall, {success.get('photos_per_s')} photos/s processing; "
        f"cluster {cl.get('n_workers')} worker × {cl.get('threads_per_worker')} thread, "
        f"{cl.get('intra_op_threads')} ORT intra-op threads; counts {success.get('counts', {}).get('status')}"
    )
    print(
        f"worker pids seen (peak MiB): {result['worker_pids']}; job process peak {result['job_process_peak_rss_mib']} MiB"
    )
    print(table(result))
    print(
        f"overall worker peak RSS {result['peak_rss_mib']} MiB (peak USS {result['peak_uss_mib']} MiB); "
        f"end-of-partition RSS first/last {result['end_rss_first_last_mib']}"
    )
    print(result["verdict"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
