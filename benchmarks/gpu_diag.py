"""Diagnostic matrix for the torch backend on a GPU: what does a model call cost the first time a shape is seen,
the next time, and the first time on another thread — per model, per engine setting?

    PODOCR_MODELS_DIR=... python benchmarks/gpu_diag.py [--device cuda|cpu] [--budget-s 90] [--out diag.json]

For each variant (NCHW or channels-last, depthwise convs on or off cuDNN, cudnn.benchmark, TF32) it builds the
pipeline's engines with the GPU shape profile and no warm-up, then for a few shapes of the closed set per role
(smallest, a typical one, largest) times: the first call, the median of three repeats, and the same shape's first
call on a fresh thread (PyTorch keeps cuDNN plans per thread). Each variant runs in its own process, so no
plan cached by one variant flatters the next; variants run in order until the budget is spent;
each prints one JSON line, and the last line is a summary with, per role, the variant with the lowest
first-call + repeat cost (the settings to put in the config, docs/gpu.md). CUDA_MODULE_LOADING applies per
process: the value in force is recorded, not varied.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS: dict[str, dict[str, Any]] = {
    "nchw": {"channels_last": False},
    "nchw_dw_off_cudnn": {"channels_last": False, "cudnn_depthwise": False},
    "channels_last": {"channels_last": True},
    "channels_last_dw_off_cudnn": {"channels_last": True, "cudnn_depthwise": False},
    "nchw_benchmark": {"channels_last": False, "cudnn_conv_algo_search": "EXHAUSTIVE"},
    "nchw_no_tf32": {"channels_last": False, "tf32": False},
}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _timed(engine: Any, shape: tuple[int, ...], device: str) -> float:
    x = np.zeros(shape, np.float32)
    t = time.perf_counter()
    engine.run(x)
    _sync(device)
    return time.perf_counter() - t


def _on_fresh_thread(engine: Any, shape: tuple[int, ...], device: str) -> float:
    out: list[float] = []
    th = threading.Thread(target=lambda: out.append(_timed(engine, shape, device)))
    th.start()
    th.join()
    return out[0]


def _picks(shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Smallest, a middle one, largest (by elements): the spread of per-shape cost, in three calls."""
    ordered = sorted(set(shapes), key=lambda s: int(np.prod(s)))
    return sorted({ordered[0], ordered[len(ordered) // 2], ordered[-1]}, key=lambda s: int(np.prod(s)))


def run_variant(name: str, settings: dict[str, Any], device: str, deadline: float) -> dict[str, Any]:
    from podocr.config import PodocrConfig
    from podocr.ocr.build import build_components
    from podocr.ocr.shapes import closed_set

    overrides = {
        "engine.backend": "torch",
        "engine.provider": device,
        "engine.shape_profile": "gpu",
        "engine.warm_up": False,
        "engine.infer_thread": "off",  # measured here on the calling thread and on fresh ones
        **{f"engine.{k}": v for k, v in settings.items()},
    }
    cfg = PodocrConfig.load(overrides=overrides)
    t = time.perf_counter()
    parts = build_components(cfg)
    result: dict[str, Any] = {
        "variant": name,
        "settings": settings,
        "load_s": round(time.perf_counter() - t, 2),
    }
    closed = closed_set(cfg, parts.shapes, parts.rec_heights())  # type: ignore[arg-type]
    roles: dict[str, Any] = {}
    for role, engine in parts.engines().items():
        rows = []
        for shape in _picks(closed[role]):
            if time.perf_counter() > deadline:
                result["cut"] = True
                break
            first = _timed(engine, shape, device)
            repeat = statistics.median(_timed(engine, shape, device) for _ in range(3))
            fresh = _on_fresh_thread(engine, shape, device)
            rows.append(
                {
                    "shape": list(shape),
                    "first_ms": 1e3 * first,
                    "repeat_ms": 1e3 * repeat,
                    "fresh_thread_ms": 1e3 * fresh,
                }
            )
        for r in rows:
            for k in ("first_ms", "repeat_ms", "fresh_thread_ms"):
                r[k] = round(r[k], 2)
        info = getattr(engine, "info", {})
        roles[role] = {
            "calls": rows,
            "depthwise_off_cudnn": info.get("depthwise_off_cudnn"),
            "cost_ms": round(sum(r["first_ms"] + r["repeat_ms"] for r in rows), 2),
        }
        print(json.dumps({"variant": name, "role": role, **roles[role]}), flush=True)  # partial results
    result["roles"] = roles
    return result


def _merge(name: str, stdout: str, stderr: str) -> dict[str, Any]:
    """A child's result: its final line, or the per-role lines it printed before it was cut off."""
    lines = [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")]
    final = [ln for ln in lines if "roles" in ln]
    if final:
        return dict(final[-1])
    roles = {
        ln["role"]: {k: v for k, v in ln.items() if k not in ("variant", "role")}
        for ln in lines
        if "role" in ln
    }
    res: dict[str, Any] = {"variant": name, "settings": VARIANTS[name], "roles": roles}
    if not roles:
        res["error"] = stderr[-400:] or "no output"
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--budget-s", type=float, default=90.0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=None, help="also write the summary JSON here")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)  # child process: run this variant only
    args = ap.parse_args()
    deadline = time.perf_counter() + args.budget_s
    if args.one:
        print(json.dumps(run_variant(args.one, VARIANTS[args.one], args.device, deadline)), flush=True)
        return 0

    import torch

    host = {
        "step": "host",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "device": args.device,
        "CUDA_MODULE_LOADING": os.environ.get("CUDA_MODULE_LOADING", "(unset)"),
    }
    if args.device == "cuda":
        host["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(host), flush=True)
    done: list[dict[str, Any]] = []
    for name in [v for v in args.variants.split(",") if v]:
        if time.perf_counter() > deadline:
            print(json.dumps({"variant": name, "skipped": "budget spent"}), flush=True)
            continue
        left = deadline - time.perf_counter()
        cmd = [sys.executable, __file__, "--device", args.device, "--one", name, "--budget-s", str(left)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left + 30)
            res = _merge(name, proc.stdout, proc.stderr)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            res = {**_merge(name, out, ""), "error": "timed out (roles measured before it are kept)"}
        print(json.dumps(res), flush=True)
        done.append(res)
    best: dict[str, Any] = {}
    for res in done:
        for role, r in res.get("roles", {}).items():
            if r["calls"] and (role not in best or r["cost_ms"] < best[role]["cost_ms"]):
                best[role] = {"variant": res["variant"], "settings": res["settings"], "cost_ms": r["cost_ms"]}
    summary = {
        "step": "summary",
        "host": host,
        "variants": done,
        "best_per_role": best,
        "seconds": round(args.budget_s - (deadline - time.perf_counter()), 1),
    }
    print(json.dumps({"step": "summary", "best_per_role": best}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
