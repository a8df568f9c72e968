"""Paired comparison of podocr configurations (model sets, knobs) on the same photos, same process.

    .venv/bin/python benchmarks/compare_configs.py --data data/bench300 --limit 90 \\
        --config "models.set=v4" --config "models.set=v6-small rec.fast_set=v6-tiny"

Every configuration reads each chunk of `--batch` photos in turn, alternating the order chunk by chunk, so
background load on a shared machine hits them alike; wall time per photo and the per-stage split come from
the same runs, and `time×` is each configuration's wall time over the first one's: on a loaded machine that
ratio holds where absolute photos/s do not. Scoring is the one in cpu_throughput.py (podocr.eval.metrics),
plus, from `podocr eval`'s report, line recall on text under 12 px and the ZIP found in the text.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchkit import add_stage_times, read_photo, score


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = all cores)")
    ap.add_argument("--config", action="append", required=True, help='space-separated "section.key=value"')
    ap.add_argument(
        "--results-dir",
        default=None,
        help="write each config's lines (with boxes) as K.jsonl here, for `podocr eval --results` (miss causes)",
    )
    args = ap.parse_args(argv)

    import os

    from podocr.config import PodocrConfig
    from podocr.eval.dataset import load_dataset
    from podocr.eval.evaluate import build_report
    from podocr.eval.results import Prediction, from_pipeline
    from podocr.ocr.pipeline import OcrPipeline

    threads = args.threads or (os.cpu_count() or 1)
    pipes = []
    for spec in args.config:
        overrides = dict(kv.split("=", 1) for kv in spec.split())
        pipes.append(
            OcrPipeline.from_config(PodocrConfig.load(overrides=overrides), intra_op_threads=threads)
        )
    samples = load_dataset(args.data, limit=args.limit)
    lines: list[list[list[str]]] = [[] for _ in pipes]
    preds: list[list[Prediction]] = [[] for _ in pipes]
    wall = [0.0] * len(pipes)
    stages: list[dict[str, float]] = [{} for _ in pipes]
    for n in range(0, len(samples), args.batch):
        chunk = samples[n : n + args.batch]
        images = [read_photo(s.image) for s in chunk]
        order = range(len(pipes)) if (n // args.batch) % 2 == 0 else reversed(range(len(pipes)))
        for k in order:
            t0 = time.perf_counter()
            pages = pipes[k].run(images)
            wall[k] += time.perf_counter() - t0
            lines[k].extend([ln.text for ln in p.lines] for p in pages)
            preds[k].extend(from_pipeline(s.id, p, None) for s, p in zip(chunk, pages, strict=True))
            add_stage_times(stages[k], (p.timings for p in pages))
        print(f"\r{min(n + args.batch, len(samples))}/{len(samples)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    rows = []
    n = len(samples)
    for k, spec in enumerate(args.config):
        report = build_report(samples, preds[k], {})
        small = [b for name, b in report["by_text_height"].items() if name in ("<8", "8-12")]
        n_small = sum(b["n_gt_lines"] for b in small)
        rows.append(
            {
                "config": spec,
                "photos_per_s": n / wall[k],
                "time_ratio": wall[k] / wall[0],
                "stage_s_per_photo": {st: v / n for st, v in stages[k].items()},
                **score(samples, lines[k]),
                "line_recall_under_12px": sum(b["line_recall"] * b["n_gt_lines"] for b in small) / n_small
                if n_small
                else None,
                "zip_accuracy": report["zip_accuracy"],
                "miss_causes": report["miss_causes"],
            }
        )
    if args.results_dir:
        _write_results(args.results_dir, preds)
    print(f"{n} photos from {args.data}, {threads} threads")
    print(
        f"{'config':50} {'recall':>7} {'<12px':>7} {'track':>7} {'ZIP':>7} {'ph/s':>6} {'time×':>6}"
        "  stages s/photo; recall by rotation"
    )
    for r in rows:
        st = " ".join(f"{k} {v:.3f}" for k, v in r["stage_s_per_photo"].items())
        rot = " ".join(f"{k} {v:.2f}" for k, v in r["line_recall_by_rotation"].items())
        print(
            f"{r['config'][:50]:50} {r['line_recall']:7.3f} {_num(r['line_recall_under_12px'])} "
            f"{r['tracking_accuracy']:7.3f} {_num(r['zip_accuracy'])} {r['photos_per_s']:6.2f} "
            f"{r['time_ratio']:6.3f}  {st}; {rot}"
        )
    return rows


def _write_results(folder: str, preds: Sequence[Sequence[Any]]) -> None:
    """One results JSONL per configuration (0.jsonl, 1.jsonl, … in --config order), in `podocr eval`'s format."""
    import json
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for k, rows in enumerate(preds):
        with (out / f"{k}.jsonl").open("w", encoding="utf-8") as fh:
            for p in rows:
                lines = [{"text": t, "quad": q} for t, q in zip(p.lines, p.quads or [], strict=True)]
                rejected = [{"text": "", "quad": q} for q in p.rejected]
                fh.write(json.dumps({"id": p.id, "lines": lines, "rejected": rejected}) + "\n")


def _num(value: float | None) -> str:
    return f"{'-':>7}" if value is None else f"{value:7.3f}"


if __name__ == "__main__":
    main()
