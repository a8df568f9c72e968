"""benchmarks/decode_throughput.py runs here (CPU side) and says plainly when the GPU side cannot run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "decode_throughput.py"


def _jpegs(folder: Path, n: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (5, 5), 2)
        cv2.putText(img, f"PHOTO {i}", (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        cv2.imwrite(str(folder / f"p{i}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 85])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_decode_benchmark_reports_cpu_rates_and_the_gpu_status(tmp_path: Path) -> None:
    _jpegs(tmp_path / "photos", 3)
    proc = _run("--data", str(tmp_path / "photos"), "--threads", "1,2", "--seconds", "0.05", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["files"] == 3
    cpu = [r for r in report["results"] if r["device"] == "cpu"]
    assert [r["threads"] for r in cpu] == [1, 2]
    for r in cpu:
        assert r["images"] % 3 == 0 and r["images"] >= 3  # whole passes over the files
        assert (
            r["images_per_s"] > 0 and abs(r["megapixels_per_s"] - r["images_per_s"] * 320 * 240 / 1e6) < 1e-3
        )
    gpu = [r for r in report["results"] if r["device"] != "cpu"]
    if report["gpu"] != "available":
        assert gpu == [] and ("no CUDA device" in report["gpu"] or "not installed" in report["gpu"])
    else:
        assert {r["batch"] for r in gpu} == {1, 16, 64}

    text = _run("--data", str(tmp_path / "photos"), "--threads", "1", "--seconds", "0.05")
    assert text.returncode == 0 and "cv2-imdecode" in text.stdout and "images/s" in text.stdout


def test_decode_benchmark_needs_photos(tmp_path: Path) -> None:
    proc = _run("--data", str(tmp_path))
    assert proc.returncode != 0 and "no .jpg files" in proc.stderr
