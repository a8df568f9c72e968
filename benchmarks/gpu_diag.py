"""In-process GPU diagnosis of the OCR pipeline, no Dask: where does a GPU photo spend its time?

    PODOCR_MODELS_DIR=... python benchmarks/gpu_diag.py PHOTO_DIR [--device cuda|cpu] [--budget-s 150]

For each engine variant (NHWC or NCHW, cudnn.benchmark off or on) this loads the pipeline (torch backend) and
times the same 4 photos three times (steady state vs per-shape cost) and 16 new photos. A stack dump of every thread goes to stderr every 20 s, so a
hang shows where it hangs. Prints one JSON line per step.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from benchkit import add_stage_times


def _stages(pages: list) -> dict[str, float]:
    """Milliseconds per photo by stage."""
    total = add_stage_times({}, (p.timings for p in pages))
    return {k: round(v * 1000 / len(pages), 1) for k, v in total.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budget-s", type=float, default=150.0)
    ap.add_argument("--variants", default="default,nchw,cudnn_benchmark")
    ap.add_argument("--threads", action="store_true", help="also 8 threads sharing the default pipeline")
    args = ap.parse_args()
    t_start = time.perf_counter()
    faulthandler.dump_traceback_later(20, repeat=True, file=sys.stderr)

    import torch

    from podocr.config import PodocrConfig
    from podocr.ocr.pipeline import OcrPipeline

    paths = sorted(args.photos.glob("*.jpg"))[:32]
    photos: list[np.ndarray] = [img for p in paths if (img := cv2.imread(str(p))) is not None]
    print(
        json.dumps(
            {
                "step": "host",
                "torch_threads": torch.get_num_threads(),
                "cv2_threads": cv2.getNumThreads(),
                "photos": len(photos),
                "shape0": list(photos[0].shape),
            }
        ),
        flush=True,
    )

    def left() -> float:
        return args.budget_s - (time.perf_counter() - t_start)

    def timed(step: str, fn, n: int) -> None:
        if left() < 10:
            print(json.dumps({"step": step, "skipped": "budget"}), flush=True)
            return
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        pages = fn()
        dt = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "step": step,
                    "photos": n,
                    "s": round(dt, 3),
                    "photos_per_s": round(n / dt, 2),
                    "ms_per_photo_by_stage": _stages(pages),
                    "lines": int(np.mean([len(p.lines) for p in pages])),
                }
            ),
            flush=True,
        )

    # Each variant: the same 4 photos three times (same shapes: rep 0 pays any per-shape cost, reps 1-2 are
    # steady state), then 16 new photos once (new shapes). Variants separate per-shape kernel selection or
    # compilation (cudnn.benchmark, NHWC) from plain slow kernels.
    variants: dict[str, dict[str, object]] = {
        "default": {},
        "nchw": {"engine.channels_last": False},
        "cudnn_benchmark": {"engine.cudnn_conv_algo_search": "EXHAUSTIVE"},
    }
    for name in args.variants.split(","):
        if left() < 20:
            print(json.dumps({"step": name, "skipped": "budget"}), flush=True)
            continue
        cfg = PodocrConfig.load(
            overrides={"engine.backend": "torch", "engine.provider": args.device, **variants[name]}
        )
        t = time.perf_counter()
        pipe = OcrPipeline.from_config(cfg)
        print(
            json.dumps(
                {
                    "step": f"{name}/load",
                    "s": round(time.perf_counter() - t, 2),
                    "providers": pipe.info()["providers"],
                }
            ),
            flush=True,
        )
        for rep in range(3):
            timed(f"{name}/same4_rep{rep}", lambda p=pipe: p.run(photos[:4]), 4)
        timed(f"{name}/new16", lambda p=pipe: p.run(photos[4:20]), 16)
        if name == "default" and args.threads:

            def threaded(k: int, p: OcrPipeline = pipe) -> list:
                with ThreadPoolExecutor(k) as pool:
                    parts = list(pool.map(lambda j: p.run(photos[j::k]), range(k)))
                return [pg for part in parts for pg in part]

            timed(f"{name}/threads8", lambda: threaded(8), len(photos))
        del pipe
    faulthandler.cancel_dump_traceback_later()
    return 0


if __name__ == "__main__":
    sys.exit(main())
