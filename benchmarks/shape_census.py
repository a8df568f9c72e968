"""Shape census: which (model, input shape) pairs a folder of photos brings, under the CPU or the GPU profile.

    PYTHONPATH=. python benchmarks/shape_census.py --data DIR [--profile gpu|cpu] [--limit N] [--results OUT.jsonl]

Runs the real pipeline (ONNX Runtime on CPU is enough: shapes do not depend on the device) with every model call
routed through the inference thread, which counts the shapes each model is fed. Prints, per role, the closed
set's size (GPU profile), the distinct shapes seen, and any shape outside the closed set (there should be none),
then one JSON line. With --results it also writes each photo's lines as JSONL, so `podocr eval --data DIR
--results OUT.jsonl` scores the very reads the census ran (how the GPU profile's line recall is compared with the
CPU profile's, docs/gpu.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, required=True, help="labelled folder (images/*.jpg) or a folder of jpgs"
    )
    ap.add_argument("--profile", choices=["gpu", "cpu"], default="gpu")
    ap.add_argument("--limit", type=int, default=0, help="first N photos (0 = all)")
    ap.add_argument("--batch", type=int, default=16, help="photos per pipeline call (job.ocr_batch_size)")
    ap.add_argument("--summary", type=Path, default=None, help="write the census JSON here after every batch")
    ap.add_argument(
        "--results", type=Path, default=None, help="write the reads here as JSONL for podocr eval"
    )
    args = ap.parse_args()

    from podocr.config import PodocrConfig
    from podocr.ocr.pipeline import OcrPipeline
    from podocr.ocr.shapes import closed_set

    root = args.data / "images" if (args.data / "images").is_dir() else args.data
    paths = sorted(root.glob("*.jpg"))[: args.limit or None]
    cfg = PodocrConfig.load(
        overrides={"engine.shape_profile": args.profile, "engine.infer_thread": "on", "engine.warm_up": False}
    )
    pipeline = OcrPipeline.from_config(cfg)
    parts = pipeline.parts
    engines = parts.engines()
    closed = closed_set(cfg, parts.shapes, parts.rec_heights()) if parts.shapes is not None else {}
    out = args.results.open("w") if args.results else None
    t0 = time.perf_counter()
    done = 0
    for s in range(0, len(paths), args.batch):
        chunk = paths[s : s + args.batch]
        pages = pipeline.run_safe([cv2.imread(str(p)) for p in chunk])
        for path, page in zip(chunk, pages, strict=True):
            if out is not None:
                lines = [] if isinstance(page, Exception) else [{"text": ln.text} for ln in page.lines]
                out.write(json.dumps({"id": path.stem, "lines": lines}) + "\n")
        if out is not None:
            out.flush()
        done += len(chunk)
        print(f"{done}/{len(paths)} photos, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
        if args.summary:  # after every batch, so a run cut short still leaves its census
            args.summary.write_text(json.dumps(census(args.profile, done, engines, closed, t0)) + "\n")
    parts.close()

    summary = census(args.profile, done, engines, closed, t0)
    print(f"{'role':10} {'closed set':>10} {'seen':>5} {'calls':>6}  outside the closed set")
    for role, r in summary["roles"].items():
        print(f"{role:10} {r['closed_set'] or '-':>10} {r['seen']:>5} {r['calls']:>6}  {r['outside']}")
    print(json.dumps(summary))
    return 0


def census(
    profile: str, photos: int, engines: dict[str, Any], closed: dict[str, list[Any]], t0: float
) -> dict[str, Any]:
    """Per role: the closed set's size, the distinct shapes seen, calls, shapes outside the set, the top five."""
    roles: dict[str, Any] = {}
    for role, engine in engines.items():
        seen = dict(getattr(engine, "shapes", {}))
        allowed = set(closed.get(role, []))
        roles[role] = {
            "closed_set": len(allowed) if closed else None,
            "seen": len(seen),
            "calls": sum(seen.values()),
            "outside": [list(s) for s in sorted(seen) if closed and s not in allowed],
            "top": [[list(s), n] for s, n in sorted(seen.items(), key=lambda kv: -kv[1])[:5]],
        }
    return {
        "profile": profile,
        "photos": photos,
        "closed_set_total": sum(len(v) for r, v in closed.items() if r in engines) if closed else None,
        "seen_total": sum(r["seen"] for r in roles.values()),
        "seconds": round(time.perf_counter() - t0, 1),
        "roles": roles,
    }


if __name__ == "__main__":
    sys.exit(main())
