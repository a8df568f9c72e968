"""`podocr eval`: run the OCR pipeline (+ extraction) over a labelled folder, or score a results file.

The report is one JSON-able dict: the overall metrics, `by` (the same metrics per carrier and condition
bucket) and how the run was made. Throughput is measured over OCR + extraction only (model loading and image
decoding are timed separately), so it tracks the pipeline, not the disk.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from podocr.config import IOConfig, PodocrConfig
from podocr.eval import score
from podocr.eval.attribution import CAUSES
from podocr.eval.dataset import EvalError, Sample, load_dataset
from podocr.eval.results import Prediction, from_pipeline, load_results, missing

__all__ = ["EvalError", "build_report", "evaluate", "format_table", "run_pipeline", "write_json"]

BATCH_SIZE = 8  # photos handed to the pipeline per call: enough for its cross-image batching, little memory
TABLE_COLUMNS = (
    ("n", "n_images", "d"),
    ("lines", "line_recall", "f"),
    ("exact", "line_exact", "f"),
    ("CER", "line_cer", "f"),
    ("word F1", "word_f1", "f"),
    ("track", "tracking_accuracy", "f"),
    ("ZIP", "zip_accuracy", "f"),
    ("street", "street_accuracy", "f"),
    ("trk ext", "tracking_extracted_accuracy", "f"),
    ("ver F1", "verification_f1", "f"),
    ("neg txt", "negatives_with_text", "f"),
)


def evaluate(
    data: str | Path,
    *,
    cfg: PodocrConfig | None = None,
    results: str | Path | None = None,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    turn: int = 0,
) -> dict[str, Any]:
    """Score `data` (a labelled folder): with `results`, that file's predictions; else the pipeline's, run now.

    `turn` (0/90/180/270) turns every photo clockwise before it is read: the same photos at every orientation
    is a paired test of orientation handling, free of the per-bucket sampling noise of a synthetic set.
    """
    if turn % 90 or not 0 <= turn < 360:
        raise EvalError(f"turn must be 0, 90, 180 or 270 degrees, not {turn}")
    if turn and results is not None:
        raise EvalError("--turn applies to photos read now, not to a results file")
    samples = load_dataset(data, limit=limit)
    meta: dict[str, Any] = {"data": str(data), "limit": limit, "turn": turn}
    if results is not None:
        loaded = load_results(results)
        with_extraction = any(p.fields is not None for p in loaded.values())
        preds = [
            loaded.get(s.id) or missing(s.id, "not in the results file", with_extraction) for s in samples
        ]
        meta.update(source="results", results=str(results), images_per_s=None)
    else:
        cfg = cfg or PodocrConfig.load()
        preds, timing = run_pipeline(samples, cfg, batch_size=batch_size, progress=progress, turn=turn)
        meta.update(source="pipeline", model_set=cfg.models.set, provider=cfg.engine.provider, **timing)
    return build_report(samples, preds, meta)


def build_report(
    samples: Sequence[Sample], preds: Sequence[Prediction], meta: dict[str, Any]
) -> dict[str, Any]:
    """Overall metrics, then `meta`, the per-bucket breakdown under `by`, and one row per photo under `photos`."""
    scores = [score.score_image(s, p) for s, p in zip(samples, preds, strict=True)]
    report = score.aggregate(scores)
    report.update(meta)
    report["by"] = score.breakdown(scores)
    report["photos"] = [s.to_dict() for s in scores]
    return report


def run_pipeline(
    samples: Sequence[Sample],
    cfg: PodocrConfig,
    *,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    turn: int = 0,
) -> tuple[list[Prediction], dict[str, Any]]:
    """Predictions for `samples` in order, and timings; a photo that fails to decode or read becomes an error."""
    from podocr.extract import Expected, extract_photo
    from podocr.ocr.pipeline import OcrPipeline
    from podocr.ocr.registry import ModelError
    from podocr.ocr.runtime.engine import EngineError

    t0 = time.perf_counter()
    try:
        pipeline = OcrPipeline.from_config(cfg)
    except (ModelError, EngineError) as exc:
        raise EvalError(f"cannot load the OCR pipeline: {exc}") from exc
    load_s = time.perf_counter() - t0
    decode_s = work_s = barcode_s = 0.0
    preds: list[Prediction] = []
    bar = _progress(len(samples)) if progress else None
    for start in range(0, len(samples), batch_size):
        batch = samples[start : start + batch_size]
        t0 = time.perf_counter()
        decoded = [_turned(_decode(s, cfg.io), turn) for s in batch]
        t1 = time.perf_counter()
        good = [(s, img) for s, img in zip(batch, decoded, strict=True) if not isinstance(img, str)]
        pages = pipeline.run_safe([img for _, img in good])  # a failing photo comes back as its exception
        by_id: dict[str, Prediction] = {}
        for (sample, image), page in zip(good, pages, strict=True):
            if isinstance(page, Exception):
                reason = f"ocr_failed: {type(page).__name__}: {page}"
                by_id[sample.id] = missing(sample.id, reason, with_extraction=True)
                continue
            expected = Expected.from_row(sample.expected) if sample.expected else None
            extraction, seconds = extract_photo(image, page, expected, cfg)
            barcode_s += seconds
            by_id[sample.id] = from_pipeline(sample.id, page, extraction)
        t2 = time.perf_counter()
        decode_s, work_s = decode_s + (t1 - t0), work_s + (t2 - t1)
        for s, img in zip(batch, decoded, strict=True):
            preds.append(by_id.get(s.id) or missing(s.id, str(img), with_extraction=True))
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    n = len(samples)
    timing = {
        "images_per_s": n / work_s if work_s > 0 else None,
        "ocr_extract_s": work_s,
        "decode_s": decode_s,
        "barcode_s": barcode_s,  # inside ocr_extract_s: the barcode decoder's share of the pipeline's time
        "model_load_s": load_s,
        "batch_size": batch_size,
    }
    return preds, timing


def _decode(sample: Sample, io_cfg: IOConfig) -> np.ndarray | str:
    """BGR image via the job's decoder (EXIF orientation, formats, bomb limits), or why it could not be read."""
    from podocr.io.decode import decode_image
    from podocr.io.errors import PhotoError

    try:
        return decode_image(sample.image.read_bytes(), io_cfg).image
    except PhotoError as exc:
        return str(exc)
    except OSError as exc:
        return f"not_found: {sample.image}: {exc.strerror or exc}"


def _turned(image: np.ndarray | str, turn: int) -> np.ndarray | str:
    """The photo turned `turn` degrees clockwise (lossless quarter turns); an error string passes through."""
    if isinstance(image, str) or not turn:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(turn // 90)))


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", file=sys.stderr, desc="eval")


def write_json(report: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width text table: the overall row, then one block per breakdown dimension."""
    head = f"{'':22}" + "".join(f"{title:>9}" for title, _, _ in TABLE_COLUMNS)
    rows = [head, _row("overall", report)]
    for dim, groups in report.get("by", {}).items():
        rows.append(f"-- by {dim}")
        rows += [_row(f"  {bucket}", values) for bucket, values in groups.items()]
    lines = ["\n".join(rows)]
    if report.get("images_per_s") is not None:
        lines.append(
            f"{report['images_per_s']:.2f} photos/s over OCR+extraction ({report['ocr_extract_s']:.1f} s); "
            f"decode {report['decode_s']:.1f} s, model load {report['model_load_s']:.1f} s"
        )
        if report.get("barcode_s") is not None and report["ocr_extract_s"]:
            share = report["barcode_s"] / report["ocr_extract_s"]
            lines.append(f"barcode decoding {report['barcode_s']:.1f} s ({share:.1%} of OCR+extraction)")
    lines.append(_heights_text(report))
    lines.append(_confusion_text(report["verification_confusion"], report.get("n_verified", 0)))
    lines.append(_kinds_text(report))
    return "\n".join(lines)


def _heights_text(report: dict[str, Any]) -> str:
    """Line recall by GT text height, with the misses of each height split by cause (docs/eval.md)."""
    bins = report.get("by_text_height") or {}
    if not bins:
        return "line recall by text height: no GT lines"
    causes = [c for c in CAUSES if c not in ("error", "unknown") or report["miss_causes"].get(c)]
    total = sum(b["n_gt_lines"] for b in bins.values())
    out = [
        "line recall by text height (px); missed lines by cause; median height of the box a missed line was read from",
        f"{'height':10}{'lines':>7}{'share':>7}{'recall':>8}"
        + "".join(f"{c:>13}" for c in causes)
        + f"{'box h':>7}",
    ]
    rows = [
        *bins.items(),
        (
            "all",
            {
                "n_gt_lines": total,
                "line_recall": report.get("line_recall"),
                "misses": report["miss_causes"],
                "miss_box_height_median": None,
            },
        ),
    ]
    for name, b in rows:
        recall = b["line_recall"]
        box = b["miss_box_height_median"]
        out.append(
            f"{name:10}{b['n_gt_lines']:>7d}{b['n_gt_lines'] / max(total, 1):>7.0%}"
            + (f"{'-':>8}" if recall is None else f"{recall:>8.3f}")
            + "".join(f"{b['misses'].get(c, 0):>13d}" for c in causes)
            + (f"{'':>7}" if box is None else f"{box:>7.1f}")
        )
    return "\n".join(out)


def _kinds_text(report: dict[str, Any]) -> str:
    """Misdelivery F1 per mismatch kind, false alarms, and the same on legible vs severely blurred photos."""
    out = [
        "misdelivery by kind (F1)      overall  " + "  ".join(f"{k:>17}" for k in report.get("kind_f1", {}))
    ]
    groups = [("all", report), *report.get("by", {}).get("legibility", {}).items()]
    for name, values in groups:
        kinds = values.get("kind_f1") or {}
        if not values.get("n_verified"):
            continue
        fmt = lambda v: f"{'-':>17}" if v is None else f"{v:>17.3f}"  # noqa: E731
        fa = values.get("false_alarm_rate")
        out.append(
            f"  {name:<14} F1 {fmt(values.get('verification_f1'))[-7:]}  "
            + "  ".join(fmt(kinds.get(k)) for k in report.get("kind_f1", {}))
            + f"   false alarms {'-' if fa is None else f'{fa:.3f}'}"
        )
    return "\n".join(out)


def _row(label: str, values: dict[str, Any]) -> str:
    cells = []
    for _, key, kind in TABLE_COLUMNS:
        v = values.get(key)
        cells.append(f"{'-':>9}" if v is None else f"{v:>9d}" if kind == "d" else f"{v:>9.3f}")
    return f"{label[:22]:22}" + "".join(cells)


def _confusion_text(table: dict[str, dict[str, int]], n: int) -> str:
    if not n:
        return "verification: not scored (no extraction or no manifest expectations)"
    cols = list(next(iter(table.values())))
    out = ["verification (rows: truth, columns: verdict)", f"{'':12}" + "".join(f"{c:>12}" for c in cols)]
    out += [f"{t:12}" + "".join(f"{row[c]:>12d}" for c in cols) for t, row in table.items()]
    return "\n".join(out)
