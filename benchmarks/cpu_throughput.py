"""podocr vs RapidOCR 1.4.4 on the same photos, in one run, on this machine's CPU.

    .venv/bin/python benchmarks/cpu_throughput.py --data data/bench300 [--limit N] [--set v6-tiny]

Each system runs in its own worker process (so each one's peak RSS is its own) and the parent hands both
workers the same chunk of photos in turn, alternating who goes first, so background load hits both alike.
Each worker decodes its photos itself (decode time is reported separately and excluded from OCR photos/s).
podocr gets a chunk as one batch (`--batch` photos, like a job partition's OCR call), by default split over
as many threads as cores with single-threaded model calls (`engine.batch_threads`; same process, same cores);
RapidOCR, which takes one image per call, runs with its defaults: `RapidOCR()(img)` (ORT threads = all cores).
`--podocr-procs 2` deals each chunk to two podocr processes instead, as the Dask job runs on a 2-core host.

Scoring (podocr.eval.metrics, the same rule as the peer reference numbers): a ground-truth line counts as
read when some predicted line is within normalised CER ≤ 0.1 of it, spaces ignored; tracking accuracy = the
GT tracking number appears in the predicted lines joined, spaces ignored, over photos that have one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchkit import add_stage_times, machine, read_photo, score

SYSTEMS = ("podocr", "rapidocr")


# ---- workers (one process per system) ---------------------------------------------------------------------
def _worker(system: str, conn: Connection, options: dict[str, Any]) -> None:
    info, run = _podocr_runner(options) if system == "podocr" else _rapidocr_runner()
    conn.send({"ready": True, "info": info})
    while True:
        paths = conn.recv()
        if paths is None:
            break
        t0 = time.perf_counter()
        images = [read_photo(p) for p in paths]
        decode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        per_photo = run(images)
        ocr_s = time.perf_counter() - t0
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        conn.send({"decode_s": decode_s, "ocr_s": ocr_s, "photos": per_photo, "peak_rss_mb": rss_mb})


Runner = Callable[[list[Any]], list[dict[str, Any]]]


def _podocr_runner(options: dict[str, Any]) -> tuple[dict[str, Any], Runner]:
    from podocr.config import PodocrConfig
    from podocr.ocr.pipeline import OcrPipeline

    cfg = PodocrConfig.load(overrides=options["overrides"])
    pipeline = OcrPipeline.from_config(cfg, intra_op_threads=options["threads"])

    def run(images: list[Any]) -> list[dict[str, Any]]:
        pages = pipeline.run(images)
        return [
            {"lines": [ln.text for ln in p.lines], "timings": p.timings, "s": sum(p.timings.values())}
            for p in pages
        ]

    sections = cfg.to_dict()
    return {**pipeline.info(), "config": {k: sections[k] for k in ("roi", "det", "cls", "rec")}}, run


def _rapidocr_runner() -> tuple[dict[str, Any], Runner]:
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def run(images: list[Any]) -> list[dict[str, Any]]:
        out = []
        for img in images:
            t0 = time.perf_counter()
            result, _ = engine(img)
            out.append({"lines": [r[1] for r in result or []], "s": time.perf_counter() - t0})
        return out

    return {"system": "rapidocr_onnxruntime 1.4.4, defaults"}, run


# ---- driver -------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", required=True, help="folder with labels.jsonl and images/ (podocr synth output)"
    )
    ap.add_argument("--limit", type=int, default=None, help="first N photos only")
    ap.add_argument(
        "--batch",
        type=int,
        default=16,
        help="photos per podocr call and alternation chunk (job.ocr_batch_size)",
    )
    ap.add_argument("--threads", type=int, default=1, help="podocr intra-op threads per model call")
    ap.add_argument(
        "--batch-threads",
        type=int,
        default=0,
        help="podocr engine.batch_threads: each batch split over this many threads (0 = cores / --threads)",
    )
    ap.add_argument("--set", dest="model_set", default=None, help="podocr model set (default: config)")
    ap.add_argument(
        "-o", "--option", action="append", default=[], help="podocr config override section.key=value"
    )
    ap.add_argument("--only", choices=SYSTEMS, default=None, help="run one system only")
    ap.add_argument(
        "--podocr-procs",
        type=int,
        default=1,
        help="podocr worker processes sharing each chunk (cores split between them), as the Dask job runs",
    )
    ap.add_argument("--json", dest="json_out", default=None, help="write the full report here")
    args = ap.parse_args(argv)

    from podocr.eval.dataset import load_dataset

    samples = load_dataset(args.data, limit=args.limit)
    overrides: dict[str, Any] = dict(kv.split("=", 1) for kv in args.option)
    if args.model_set:
        overrides["models.set"] = args.model_set
    procs = max(1, args.podocr_procs)
    threads = max(1, args.threads)
    batch_threads = args.batch_threads or max(1, (os.cpu_count() or 1) // procs // threads)
    overrides.setdefault("engine.batch_threads", batch_threads)
    options = {"overrides": overrides, "threads": threads}
    systems = [args.only] if args.only else list(SYSTEMS)

    ctx = mp.get_context("spawn")
    workers: dict[str, list[tuple[Any, Connection]]] = {}
    infos: dict[str, Any] = {}
    for system in systems:
        workers[system] = []
        for _ in range(procs if system == "podocr" else 1):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(system, child, options), daemon=True)
            proc.start()
            infos[system] = parent.recv()["info"]
            workers[system].append((proc, parent))
    if "podocr" in infos:
        infos["podocr"].update(processes=procs, intra_op_threads=threads, batch_threads=batch_threads)

    per_system: dict[str, dict[str, Any]] = {
        s: {
            "decode_s": 0.0,
            "ocr_s": 0.0,
            "photo_s": [],
            "lines": [],
            "peak_rss_mb": 0.0,
            "stages": {},
        }
        for s in systems
    }
    chunks = [samples[i : i + args.batch] for i in range(0, len(samples), args.batch)]
    for n, chunk in enumerate(chunks):
        paths = [str(s.image) for s in chunk]
        order = systems if n % 2 == 0 else systems[::-1]
        for system in order:
            # the chunk is dealt round-robin to the system's processes; its wall time counts, minus decode
            conns = [conn for _, conn in workers[system]]
            parts = [paths[k :: len(conns)] for k in range(len(conns))]
            t0 = time.perf_counter()
            for conn, part in zip(conns, parts, strict=True):
                conn.send(part)
            reps = [conn.recv() for conn in conns]
            wall = time.perf_counter() - t0
            acc = per_system[system]
            decode = max(rep["decode_s"] for rep in reps)
            acc["decode_s"] += decode
            acc["ocr_s"] += wall - decode
            acc["peak_rss_mb"] = max(acc["peak_rss_mb"], sum(rep["peak_rss_mb"] for rep in reps))
            ordered = [None] * len(paths)
            for k, rep in enumerate(reps):
                for j, photo in enumerate(rep["photos"]):
                    ordered[k + j * len(conns)] = photo
            for photo in ordered:
                assert photo is not None
                acc["photo_s"].append(photo["s"])
                acc["lines"].append(photo["lines"])
                add_stage_times(acc["stages"], [photo.get("timings", {})])
        done = (n + 1) * args.batch
        print(f"\r{min(done, len(samples))}/{len(samples)} photos", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for pool in workers.values():
        for proc, conn in pool:
            conn.send(None)
            proc.join(30)

    report: dict[str, Any] = {
        "data": str(args.data),
        "photos": len(samples),
        "machine": machine(),
        "batch": args.batch,
        "systems": {},
    }
    for system in systems:
        acc = per_system[system]
        n = len(samples)
        photo_s = sorted(acc["photo_s"])  # acc["photo_s"] itself stays in photo order for per_photo
        report["systems"][system] = {
            "info": infos[system],
            "photos_per_s": n / acc["ocr_s"],
            "photos_per_s_with_decode": n / (acc["ocr_s"] + acc["decode_s"]),
            "s_per_photo_median": statistics.median(photo_s),
            "s_per_photo_p95": photo_s[min(n - 1, int(0.95 * n))],
            "decode_s_per_photo": acc["decode_s"] / n,
            "peak_rss_mb": acc["peak_rss_mb"],
            **score(samples, acc["lines"]),
            **({"stage_s_per_photo": {k: v / n for k, v in acc["stages"].items()}} if acc["stages"] else {}),
            "per_photo": [
                {"id": smp.id, "s": sec, "lines": lines}
                for smp, sec, lines in zip(samples, acc["photo_s"], acc["lines"], strict=True)
            ],
        }
    if len(systems) == 2:
        p, r = report["systems"]["podocr"], report["systems"]["rapidocr"]
        report["speedup"] = p["photos_per_s"] / r["photos_per_s"]
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2))
    return report


def format_report(report: dict[str, Any]) -> str:
    rows = [
        ("photos/s (OCR only)", "photos_per_s", "{:.2f}"),
        ("photos/s incl. decode", "photos_per_s_with_decode", "{:.2f}"),
        ("s/photo median", "s_per_photo_median", "{:.3f}"),
        ("s/photo p95", "s_per_photo_p95", "{:.3f}"),
        ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
        ("line_recall", "line_recall", "{:.3f}"),
        ("tracking_accuracy", "tracking_accuracy", "{:.3f}"),
    ]
    systems = list(report["systems"])
    out = [f"{report['photos']} photos from {report['data']}, {report['machine']['cores']} cores"]
    out.append(f"{'':24}" + "".join(f"{s:>12}" for s in systems))
    for title, key, fmt in rows:
        vals = [report["systems"][s].get(key) for s in systems]
        out.append(f"{title:24}" + "".join(f"{fmt.format(v) if v is not None else '-':>12}" for v in vals))
    rot_keys = sorted({k for s in systems for k in report["systems"][s]["line_recall_by_rotation"]})
    for k in rot_keys:
        vals = [report["systems"][s]["line_recall_by_rotation"].get(k) for s in systems]
        out.append(
            f"{'line_recall ' + k:24}"
            + "".join(f"{v:>12.3f}" if v is not None else f"{'-':>12}" for v in vals)
        )
    if "speedup" in report:
        out.append(f"podocr / rapidocr photos/s: {report['speedup']:.2f}x")
    stages = report["systems"].get("podocr", {}).get("stage_s_per_photo")
    if stages:
        out.append("podocr s/photo by stage: " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()))
    return "\n".join(out)


if __name__ == "__main__":
    main()
