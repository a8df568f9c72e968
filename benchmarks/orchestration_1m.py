"""Everything but the OCR, at 10k / 100k / 1M rows: is the orchestration ever the bottleneck of a big day?

Per size: a manifest (CSV and Parquet) read and validated, the run planned and staged, thousands of partitions
submitted to a real multi-process LocalCluster, run and gathered, thousands of parts published to a moto S3
server, and the HTML report built — timing each phase and sampling the driver's RSS (this process, which also
hosts the LocalCluster's scheduler) for its peak in each phase.

The OCR is replaced by `FixedPageReader`, which returns the same page for any photo at once. It exists only in
this file and is installed into each worker's pipeline cache (`job.cache.install`); the photos are still fetched
(tiny PNGs on local disk, one per 100 rows) and decoded, the fields extracted, the rows written. The barcode scan
is switched off too (`--with-barcodes` keeps it): like OCR it reads the photo's pixels, so its cost belongs to the
reading that the fixed page stands in for, and on the benchmark's noise images it only measures zxing failing.

    PYTHONPATH=. python benchmarks/orchestration_1m.py --rows 10000 100000 [1000000] --json out.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from distributed import WorkerPlugin

from podocr.types import PageResult, TextLine

CPU_OCR_S_PER_PHOTO = 0.4  # measured CPU OCR per photo per core (docs/performance.md)
DATE = "2026-11-26"


class FixedPageReader:
    """Benchmark-only stand-in for the OCR pipeline: the same label page for every photo, instantly."""

    LINES = ("UPS GROUND", "SHIP TO: JANE DOE", "12 MAIN ST", "SPRINGFIELD IL 62704", "1Z999AA10123456784")

    def info(self) -> dict[str, Any]:
        return {"model_set": "fixed-page-reader (benchmark only)", "sha256": {}, "provider": "none"}

    def run_safe(self, images: list[Any]) -> list[Any]:
        quad = [(0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)]
        lines = [TextLine(t, 0.95, quad) for t in self.LINES]  # type: ignore[arg-type]
        return [PageResult(lines, int(im.shape[1]), int(im.shape[0])) for im in images]


def install_fixed_reader(cfg: Any) -> None:
    from podocr.job.cache import install

    install(cfg, 1, FixedPageReader())  # type: ignore[arg-type]


class FixedReaderPlugin(WorkerPlugin):  # type: ignore[misc]
    """Installs the fixed reader on every worker, including one that joins or restarts mid-run: a restarted
    worker would otherwise load the real models and OCR the rest of its partitions (a run measured that way
    charged real OCR to the orchestration)."""

    name = "podocr-fixed-page-reader"

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def setup(self, worker: Any) -> None:
        install_fixed_reader(self.cfg)


def real_model_loads(client: Any) -> int:
    """Pipelines loaded from the real models on the workers now (must be 0: only the fixed reader runs)."""
    from podocr.job.cache import load_history

    return sum(len(keys) for keys in client.run(load_history).values())


class PeakRss:
    """Samples this process's RSS every 20 ms; `phase(name)` records the peak within it, and the CPU seconds the
    driver and the workers spent in it."""

    def __init__(self, moto_pid: int) -> None:
        self.moto_pid = moto_pid
        self.proc = psutil.Process()
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    @contextmanager
    def phase(self, results: dict[str, Any], name: str) -> Any:
        self.peak = self.proc.memory_info().rss
        t0, cpu0 = time.perf_counter(), cpu_seconds(self.moto_pid)
        yield
        cpu1 = cpu_seconds(self.moto_pid)
        results[name] = {
            "wall_s": round(time.perf_counter() - t0, 2),
            "peak_rss_mib": round(self.peak / 2**20),
            "driver_cpu_s": round(cpu1["driver"] - cpu0["driver"], 2),
            "workers_cpu_s": round(cpu1["workers"] - cpu0["workers"], 2),
        }


def cpu_seconds(moto_pid: int) -> dict[str, float]:
    """CPU seconds so far of the driver (this process, which hosts the scheduler), of every worker process under
    it, and of the moto S3 server (which real S3 would not charge to the job). Wall time on a shared box says
    little; CPU time is what the orchestration costs whatever else runs. A worker restarted mid-run takes its
    CPU time with it, so restarts (reported) make the workers' share an underestimate."""
    me = psutil.Process()
    used = {"driver": 0.0, "workers": 0.0, "moto": 0.0}
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        role = "driver" if proc.pid == me.pid else "moto" if proc.pid == moto_pid else "workers"
        used[role] += t.user + t.system
    return used


def decile_costs(summaries: dict[int, dict[str, Any]]) -> dict[str, float]:
    """Mean worker CPU and wall ms per partition over the first and the last tenth of the day (partitions run in
    order): a per-partition cost that grows with the number of partitions done shows as last > first."""
    ordered = [summaries[p] for p in sorted(summaries)]
    tenth = max(1, len(ordered) // 10)
    out: dict[str, float] = {}
    for name, part in (("first", ordered[:tenth]), ("last", ordered[-tenth:])):
        out[f"{name}_decile_cpu_ms"] = round(1000 * sum(s["cpu_s"] for s in part) / len(part), 2)
        out[f"{name}_decile_wall_ms"] = round(1000 * sum(s["seconds"] for s in part) / len(part), 2)
    return out


def write_inputs(root: Path, rows: int) -> None:
    import cv2
    import numpy as np

    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    n_photos = max(1, rows // 100)
    rng = np.random.default_rng(0)
    for i in range(n_photos):
        cv2.imwrite(str(images / f"{i}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    folder = root / "manifests" / f"date={DATE}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["delivery_id", "image_uri", "expected_tracking", "expected_zip"])
        for i in range(rows):
            w.writerow([f"D{i:08d}", f"images/{i % n_photos}.png", "1Z999AA10123456784", "62704"])
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    strings = pacsv.ConvertOptions(
        column_types=dict.fromkeys(["expected_tracking", "expected_zip"], "string")
    )
    pq.write_table(
        pacsv.read_csv(folder / "manifest.csv", convert_options=strings), root / "manifest.parquet"
    )


@contextmanager
def moto_server() -> Any:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(
        {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def run_size(
    rows: int,
    workers: int,
    partition_size: int,
    client: Any,
    endpoint: str,
    moto_pid: int,
    tmp: Path,
    barcodes: bool = False,
) -> dict[str, Any]:
    import fsspec

    from podocr.config import PodocrConfig
    from podocr.io import manifest as manifest_io
    from podocr.io import sink
    from podocr.job.cache import config_key
    from podocr.job.commit import commit, now
    from podocr.job.partition import JobContext
    from podocr.job.plan import plan_run
    from podocr.job.process import process
    from podocr.job.validate import output_storage, validated_manifest
    from podocr.report import write_report

    root = tmp / f"in-{rows}"
    write_inputs(root, rows)
    bucket = f"bench-{rows}"
    fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True).mkdir(bucket)
    cfg = PodocrConfig.load(
        environ={},
        overrides={
            "job.input": str(root),
            "job.output": f"s3://{bucket}/out",
            "job.scheduler": client.scheduler.address,
            "job.partition_size": partition_size,
            "job.progress": False,
            "job.retries": 1,
            "engine.intra_op_threads": 1,
            "io.s3_endpoint_url": endpoint,
            "io.fetch_threads": 4,
            "barcode.enabled": barcodes,
        },
    )
    client.register_plugin(FixedReaderPlugin(cfg))
    rss = PeakRss(moto_pid)
    out: dict[str, Any] = {
        "rows": rows,
        "workers": workers,
        "partition_size": partition_size,
        "barcode_scan": barcodes,
    }
    phases: dict[str, Any] = {}
    t_all = time.perf_counter()
    cpu0 = cpu_seconds(moto_pid)
    with rss.phase(phases, "read_validate_parquet"):
        manifest_io.read_manifest(str(root / "manifest.parquet"), cfg.io)
    t0 = time.perf_counter()
    with rss.phase(phases, "read_validate_csv"):
        manifest = validated_manifest(cfg, DATE, str(root), None)
        bounds = manifest_io.partition_bounds(manifest.rows, partition_size)
    with rss.phase(phases, "plan_stage"):
        fs, path = output_storage(cfg.job.output, cfg)
        layout = sink.DayLayout(path, DATE)
        identity = {
            "manifest_sha256": manifest.sha256,
            "partition_size": partition_size,
            "model_set": cfg.models.set,
            "config_key": config_key(cfg),
            "images_root": str(root),
        }
        plan = plan_run(fs, layout, manifest, bounds, identity, False, now())
        staging_uri = f"{cfg.job.output}/{sink.STAGING_DIR}/date={DATE}/run={plan.run_id}"
        manifest_io.stage_partitions(
            manifest, f"{staging_uri}/{sink.STAGED_MANIFEST}", partition_size, cfg.io
        )
    with rss.phase(phases, "submit_run_gather"):
        ctx = JobContext(
            cfg, plan.run_id, DATE, staging_uri, f"{staging_uri}/{sink.STAGED_MANIFEST}", str(root)
        )
        with process(ctx, plan.todo, bounds, lambda _: None) as processed:
            pass  # the phase ends once the job's client to the cluster is closed
        assert not processed.outcome.failed, processed.outcome.failed
    with rss.phase(phases, "commit"):
        stats = {
            "date": DATE,
            "output": "",
            "photos_processed": rows,
            "images_root": str(root),
            "model": processed.model,
            "cluster": processed.cluster,
            "durations": dict(processed.durations),
            "started_at": now(),
        }
        success = commit(fs, layout, plan, manifest, bounds, stats, t0)
    with rss.phase(phases, "report"):
        write_report(cfg.job.output, DATE, cfg.io, None, str(root))
    rss.stop.set()
    total = time.perf_counter() - t_all
    cpu1 = cpu_seconds(moto_pid)
    used = {role: cpu1[role] - cpu0[role] for role in cpu1}
    job_cpu, moto_cpu = used["driver"] + used["workers"], used["moto"]
    assert success["rows"] == rows and success["counts"]["status"].get("ok") == rows, success["counts"]
    cores = workers  # one thread per worker process
    per_photo = total * cores / rows
    out.update(
        partitions=len(bounds),
        phases=phases,
        total_s=round(total, 1),
        driver_peak_rss_mib=max(p["peak_rss_mib"] for p in phases.values()),
        core_s_per_photo=round(per_photo, 5),
        share_of_cpu_ocr=round(per_photo / CPU_OCR_S_PER_PHOTO, 4),
        job_cpu_s=round(job_cpu, 1),
        moto_cpu_s=round(moto_cpu, 1),
        job_cpu_ms_per_photo=round(job_cpu / rows * 1000, 3),
        job_cpu_share_of_cpu_ocr=round(job_cpu / rows / CPU_OCR_S_PER_PHOTO, 4),
        driver_cpu_s=round(used["driver"], 1),
        workers_cpu_s=round(used["workers"], 1),
        driver_cpu_ms_per_partition=round(1000 * used["driver"] / len(bounds), 2),
        workers_cpu_ms_per_partition=round(1000 * used["workers"] / len(bounds), 2),
        partition_cost=decile_costs(processed.outcome.done),
        restarts=processed.cluster.get("restarts"),
        real_model_loads=real_model_loads(client),
    )
    if out["real_model_loads"]:
        print(f"WARNING: {out['real_model_loads']} real pipeline load(s) on the workers", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-size", type=int, default=256)
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--with-barcodes", action="store_true", help="keep the barcode scan (a reading cost) in the measure"
    )
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    from podocr.config import PodocrConfig
    from podocr.job.cluster import worker_settings

    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        moto_server() as (endpoint, moto_pid),
        worker_settings(PodocrConfig.load(environ={})),  # the Dask settings of the job's own clusters
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as lc,
        Client(lc) as client,
    ):
        client.run(sys.path.insert, 0, str(Path(__file__).resolve().parent))
        for rows in args.rows:
            result = run_size(
                rows,
                args.workers,
                args.partition_size,
                client,
                endpoint,
                moto_pid,
                Path(tmp),
                args.with_barcodes,
            )
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
