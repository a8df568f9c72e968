"""Per-photo cost split: model inference vs everything around it, plus the model workload a GPU must carry.

    python benchmarks/stage_costs.py --data DIR [--limit 16] [--batch 8] [--set v6-small] [--threads 1]

Moving the models to a GPU removes only the model part of each stage; decode, resizing, DB post-processing,
cropping, CTC decoding and extraction stay on the host's cores. This runs the real pipeline on the CPU with
every engine wrapped in a timer, then reports per photo: decode time, each stage's time, how much of it was
model inference, the remainder ("host-side": what a GPU host's CPUs still pay), and the model workload (det
input megapixels, rec crops and their widths, cls crops). docs/gpu.md turns these into a GPU count.
Wall times suffer from whatever else runs on the machine; the CPU-time columns (process time, engines on one
intra-op thread so inference runs in the calling thread) do not, and are the ones to plan host cores with.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchkit import add_stage_times, read_photo


class TimedEngine:
    """An Engine that forwards to another and records (input shape, seconds) per call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.provider: str = inner.provider
        self.input_name: str = inner.input_name
        self.calls: list[tuple[tuple[int, ...], float, float]] = []  # (shape, wall s, CPU s)

    def run(self, x: np.ndarray) -> np.ndarray:
        start, cpu = time.perf_counter(), time.process_time()
        out: np.ndarray = self.inner.run(x)
        self.calls.append((tuple(x.shape), time.perf_counter() - start, time.process_time() - cpu))
        return out


def main(argv: list[str] | None = None) -> int:
    from podocr.config import PodocrConfig
    from podocr.ocr.pipeline import OcrPipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, required=True, help="folder of JPEG photos (e.g. a `podocr synth` day)"
    )
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8, help="photos per pipeline call (a partition's chunk)")
    ap.add_argument("--set", dest="model_set", default=None)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for the CPU engines")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    paths = sorted(p for p in args.data.rglob("*.jpg"))[: args.limit]
    if not paths:
        raise SystemExit(f"no .jpg files under {args.data}")
    overrides: dict[str, Any] = {"engine.intra_op_threads": args.threads, "models.set": args.model_set}
    cfg = PodocrConfig.load(overrides=overrides)
    pipeline = OcrPipeline.from_config(cfg, intra_op_threads=args.threads)
    # Every model call is timed under its role: the probe detector counts as det, both recognisers of a
    # cascade (rec.fast_set) as rec; TimedEngine.calls of one role are pooled.
    from podocr.ocr.stages.rec import CascadeRecognizer

    holders: list[tuple[str, Any]] = [("det", pipeline.detector)]
    if pipeline.probe_detector is not pipeline.detector:
        holders.append(("det", pipeline.probe_detector))
    rec = pipeline.recognizer
    holders += [
        ("rec", r) for r in ((rec.fast, rec.strong) if isinstance(rec, CascadeRecognizer) else (rec,))
    ]
    if pipeline.classifier is not None:
        holders.append(("cls", pipeline.classifier))
    timed: dict[str, TimedEngine] = {}
    for role, holder in holders:
        engine = TimedEngine(holder.engine)
        holder.engine = engine
        if role in timed:
            engine.calls = timed[role].calls  # one shared list per role
        timed[role] = engine

    decode_s = decode_cpu = pipeline_cpu = 0.0
    stage_s: dict[str, float] = {}
    for start in range(0, len(paths), args.batch):
        t0, c0 = time.perf_counter(), time.process_time()
        images = [read_photo(p) for p in paths[start : start + args.batch]]
        decode_s += time.perf_counter() - t0
        decode_cpu += time.process_time() - c0
        c0 = time.process_time()
        pages = pipeline.run(images)
        pipeline_cpu += time.process_time() - c0
        add_stage_times(stage_s, (page.timings for page in pages))

    n = len(paths)
    model_s = {role: sum(c[1] for c in e.calls) for role, e in timed.items()}
    model_cpu = {role: sum(c[2] for c in e.calls) for role, e in timed.items()}
    det_px = sum(int(np.prod(c[0][0:1] + c[0][2:])) for c in timed["det"].calls)
    rec_items = sum(c[0][0] for c in timed["rec"].calls)
    rec_width = sum(c[0][0] * c[0][3] for c in timed["rec"].calls) / max(rec_items, 1)
    cls_items = sum(c[0][0] for c in timed["cls"].calls) if "cls" in timed else 0
    stages_total = sum(v for k, v in stage_s.items() if k != "total")
    report = {
        "photos": n,
        "model_set": pipeline.models.name,
        "providers": pipeline.info()["providers"],
        "threads": args.threads,
        "ms_per_photo": {
            "decode": 1000 * decode_s / n,
            **{k: 1000 * v / n for k, v in stage_s.items() if k != "total"},
            "model_det_incl_roi_probe": 1000 * model_s["det"] / n,
            "model_rec": 1000 * model_s["rec"] / n,
            "model_cls": 1000 * model_s.get("cls", 0.0) / n,
            "host_side_excl_decode": 1000 * (stages_total - sum(model_s.values())) / n,
        },
        "cpu_ms_per_photo": {
            "decode": 1000 * decode_cpu / n,
            "pipeline": 1000 * pipeline_cpu / n,
            "model_det_incl_roi_probe": 1000 * model_cpu["det"] / n,
            "model_rec": 1000 * model_cpu["rec"] / n,
            "model_cls": 1000 * model_cpu.get("cls", 0.0) / n,
            "host_side_excl_decode": 1000 * (pipeline_cpu - sum(model_cpu.values())) / n,
        },
        "workload_per_photo": {
            "det_megapixels_incl_padding": det_px / n / 1e6,
            "det_calls": len(timed["det"].calls) / n,
            "rec_crops": rec_items / n,
            "rec_mean_padded_width": rec_width,
            "cls_crops": cls_items / n,
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{n} photos, set {report['model_set']}, providers {report['providers']}, {args.threads} thread(s)")
    for k, v in report["ms_per_photo"].items():
        print(f"  wall {k:28} {v:8.1f} ms/photo")
    for k, v in report["cpu_ms_per_photo"].items():
        print(f"  CPU  {k:28} {v:8.1f} ms/photo")
    for k, v in report["workload_per_photo"].items():
        print(f"  {k:28} {v:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
