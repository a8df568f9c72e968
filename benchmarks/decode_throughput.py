"""JPEG decode throughput: CPU threads (cv2.imdecode) vs the GPU (nvJPEG via torchvision.io.decode_jpeg).

    python benchmarks/decode_throughput.py --data DIR [--limit 256] [--threads 1,2,4] [--gpu-batch 1,16,64]
                                          [--seconds 3] [--json]

Decode is the first CPU stage of every photo; with the models on a GPU it can become the bottleneck, so this
measures how many photos per second each side decodes. Files are read into memory first (no disk I/O in the
numbers). The CPU side runs cv2.imdecode in a thread pool (it releases the GIL) at each thread count; the
GPU side, where torch sees CUDA, decodes batches on the device, with and without copying the pixels back to
the host (the pipeline's pre-processing is host-side numpy/cv2, so the download is part of the real cost).
Whatever is not available is reported as such, never skipped silently.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    name: str
    device: str
    threads: int | None
    batch: int
    images: int
    seconds: float
    images_per_s: float
    megapixels_per_s: float
    note: str = ""

    def line(self) -> str:
        how = f"threads {self.threads}" if self.threads else f"batch {self.batch}"
        return (
            f"{self.name:28} ({self.device}, {how:10}): {self.images_per_s:8.1f} images/s  "
            f"{self.megapixels_per_s:7.1f} MP/s  ({self.images} images in {self.seconds:.2f} s){self.note}"
        )


def load_jpegs(folder: Path, limit: int) -> list[bytes]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:limit]
    if not paths:
        raise SystemExit(f"no .jpg files under {folder}")
    return [p.read_bytes() for p in paths]


def _repeat(one_pass: Callable[[], int], min_seconds: float) -> tuple[int, int, float]:
    """Whole passes over the files until min_seconds: (passes, pixels decoded, seconds)."""
    passes = pixels = 0
    start = time.perf_counter()
    while True:
        pixels += one_pass()
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return passes, pixels, elapsed


def bench_cpu(blobs: list[bytes], threads: int, min_seconds: float) -> Result:
    import cv2
    import numpy as np

    cv2.setNumThreads(1)  # one decode per pool thread; no nested OpenCV threading

    def decode(blob: bytes) -> int:
        img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError("cv2.imdecode could not decode a file")
        return int(img.shape[0] * img.shape[1])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(decode, blobs[: min(len(blobs), threads)]))  # warm the pool and the codec
        passes, pixels, elapsed = _repeat(lambda: sum(pool.map(decode, blobs)), min_seconds)
    n = passes * len(blobs)
    return Result("cv2-imdecode", "cpu", threads, 1, n, elapsed, n / elapsed, pixels / elapsed / 1e6)


def gpu_unavailable_reason() -> str:
    """'' when torch + torchvision can decode JPEG on a CUDA device here, else why not."""
    try:
        import torch
        import torchvision.io  # noqa: F401
    except ImportError as exc:
        return f"torch/torchvision not installed ({exc}); pip install 'podocr[torch]'"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    return ""


def bench_gpu(blobs: list[bytes], batch: int, min_seconds: float, to_host: bool) -> Result:
    import torch
    from torchvision.io import decode_jpeg

    data = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
    chunks = [data[i : i + batch] for i in range(0, len(data), batch)]

    def one_pass() -> int:
        pixels = 0
        for chunk in chunks:
            out = decode_jpeg(chunk, device="cuda")
            if to_host:
                out = [o.cpu() for o in out]
            pixels += sum(int(o.shape[-1] * o.shape[-2]) for o in out)
        torch.cuda.synchronize()
        return pixels

    one_pass()  # nvJPEG handles and buffers are created on first use
    passes, pixels, elapsed = _repeat(one_pass, min_seconds)
    n = passes * len(blobs)
    name = "nvjpeg-decode+download" if to_host else "nvjpeg-decode (on device)"
    return Result(
        name,
        f"cuda:{torch.cuda.current_device()}",
        None,
        batch,
        n,
        elapsed,
        n / elapsed,
        pixels / elapsed / 1e6,
    )


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    default_threads = sorted({1, *[t for t in (2, 4, 8, 16, 32) if t <= cores], cores})
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of JPEG photos (searched recursively)")
    ap.add_argument("--limit", type=int, default=256, help="at most this many files (held in memory)")
    ap.add_argument("--threads", type=_ints, default=default_threads, help="CPU thread counts, e.g. 1,4,16")
    ap.add_argument("--gpu-batch", type=_ints, default=[1, 16, 64], help="GPU batch sizes")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per configuration")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = ap.parse_args(argv)

    blobs = load_jpegs(args.data, args.limit)
    mean_kb = sum(map(len, blobs)) / len(blobs) / 1024
    results: list[Result] = [bench_cpu(blobs, t, args.seconds) for t in args.threads]
    gpu_reason = gpu_unavailable_reason()
    if not gpu_reason:
        for b in args.gpu_batch:
            results.append(bench_gpu(blobs, b, args.seconds, to_host=False))
            results.append(bench_gpu(blobs, b, args.seconds, to_host=True))
    report: dict[str, Any] = {
        "files": len(blobs),
        "mean_kb": round(mean_kb, 1),
        "cores": cores,
        "gpu": gpu_reason or "available",
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{len(blobs)} JPEGs from {args.data} (mean {mean_kb:.0f} kB), {cores} CPU cores")
    for r in results:
        print(r.line())
    if gpu_reason:
        print(f"gpu: not measured — {gpu_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
