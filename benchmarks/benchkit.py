"""Helpers the benchmark scripts share: reading photos, scoring reads against ground truth, stage times.

The scripts run as `python benchmarks/NAME.py`, which puts this folder on sys.path, so they import this
module by its bare name (benchmarks/ is not a package).
"""

from __future__ import annotations

import os
import platform
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def read_photo(path: str | Path) -> Any:
    """A BGR photo from disk (cv2.imread), or SystemExit naming the file that does not decode."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: cannot decode")
    return image


def rotation_bucket(condition: dict[str, Any]) -> str:
    """The quarter turn nearest the synthetic photo's rotation, as a label."""
    rot = condition.get("rotation_deg")
    if rot is None:
        return "unknown"
    q = round(float(rot) / 90) % 4
    return ("~0°", "~90°", "~180°", "~270°")[q]


def score(samples: Sequence[Any], predictions: Sequence[list[str]]) -> dict[str, Any]:
    """Line recall (overall and by rotation) and tracking accuracy of predicted lines (podocr.eval.metrics):
    a ground-truth line counts as read when some predicted line is within normalised CER ≤ 0.1 of it, spaces
    ignored; tracking accuracy = the GT tracking number appears in the predicted lines joined."""
    from podocr.eval.metrics import match_lines, tracking_found

    read = total = found = with_tracking = 0
    buckets: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sample, lines in zip(samples, predictions, strict=True):
        matches = match_lines(lines, sample.lines)
        n_read = sum(m.read for m in matches)
        read, total = read + n_read, total + len(matches)
        b = buckets[rotation_bucket(sample.condition)]
        b[0], b[1] = b[0] + n_read, b[1] + len(matches)
        gt = sample.fields.get("tracking_number")
        if gt:
            with_tracking += 1
            found += tracking_found(lines, gt)
    return {
        "line_recall": read / total if total else None,
        "tracking_accuracy": found / with_tracking if with_tracking else None,
        "line_recall_by_rotation": {k: v[0] / v[1] for k, v in sorted(buckets.items()) if v[1]},
        "gt_lines": total,
        "photos_with_tracking": with_tracking,
    }


def add_stage_times(total: dict[str, float], timings: Iterable[dict[str, float]]) -> dict[str, float]:
    """Sum pages' per-stage seconds (PageResult.timings) into `total`, in place; returns it."""
    for t in timings:
        for stage, seconds in t.items():
            total[stage] = total.get(stage, 0.0) + seconds
    return total


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import onnxruntime

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
    }
