"""Read a labelled set once, then score extraction + verification rules on the cached reads, many times.

Tuning extraction rules (podocr/extract, podocr/barcode/payload) does not change what OCR reads, so the OCR
pages and the decoded barcodes of a synthetic set are computed once and pickled; `score` then runs the same
`extract_fields` + `build_report` that `podocr eval` runs, in seconds instead of the OCR's tens of minutes.
`barcodes` recomputes only the barcode reads (from the cached pages and the photos), for changes to
podocr/barcode/decode.py.

    PYTHONPATH=$PWD python benchmarks/page_cache.py ocr --data /work/data/s9191 --cache out/pages9191.pkl
    PYTHONPATH=$PWD python benchmarks/page_cache.py score --data /work/data/s9191 --cache out/pages9191.pkl

The cache is a dict {photo id: CachedPhoto}; `ocr` saves after every batch and skips photos already cached,
so an interrupted run resumes. The OCR seconds and barcode seconds per photo are kept, so `score` also reports
the barcode decoder's share of the per-photo time (OCR + barcodes + extraction).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podocr.config import PodocrConfig
from podocr.eval.dataset import Sample, load_dataset
from podocr.eval.evaluate import _decode, build_report, format_table
from podocr.eval.results import Prediction, from_pipeline, missing


@dataclass
class CachedPhoto:
    page: Any  # PageResult, or None when the photo could not be decoded / read
    error: str | None = None
    ocr_s: float = 0.0  # this photo's share of its batch's OCR time
    reads: list[Any] = field(default_factory=list)  # BarcodeRead
    barcode_s: float = 0.0


def _load(path: Path) -> dict[str, CachedPhoto]:
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        out: dict[str, CachedPhoto] = pickle.load(fh)
    return out


def _save(cache: dict[str, CachedPhoto], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(cache, fh)
    tmp.replace(path)


def _scan(image: Any, page: Any, cfg: PodocrConfig) -> tuple[list[Any], float]:
    from podocr.barcode.decode import scan_photo

    t0 = time.perf_counter()
    reads = scan_photo(image, page, cfg.barcode).reads if cfg.barcode.enabled else []
    return list(reads), time.perf_counter() - t0


def cmd_ocr(args: argparse.Namespace) -> None:
    from podocr.ocr.pipeline import OcrPipeline

    cfg = PodocrConfig.load()
    samples = _photos(args.data, args.limit)
    cache = _load(args.cache)
    todo = [s for s in samples if s.id not in cache]
    pipeline = OcrPipeline.from_config(cfg)
    for start in range(0, len(todo), args.batch):
        batch = todo[start : start + args.batch]
        decoded = [_decode(s, cfg.io) for s in batch]
        good = [(s, img) for s, img in zip(batch, decoded, strict=True) if not isinstance(img, str)]
        t0 = time.perf_counter()
        pages = pipeline.run_safe([img for _, img in good])
        per_photo = (time.perf_counter() - t0) / max(1, len(good))
        for s, img in zip(batch, decoded, strict=True):
            if isinstance(img, str):
                cache[s.id] = CachedPhoto(page=None, error=img)
        for (s, img), page in zip(good, pages, strict=True):
            if isinstance(page, Exception):
                cache[s.id] = CachedPhoto(page=None, error=f"ocr_failed: {type(page).__name__}: {page}")
                continue
            reads, seconds = _scan(img, page, cfg)
            cache[s.id] = CachedPhoto(page=page, ocr_s=per_photo, reads=reads, barcode_s=seconds)
        _save(cache, args.cache)
        print(f"{len(cache)} cached", file=sys.stderr, flush=True)


@dataclass
class _Photo:
    id: str
    image: Path


def _photos(data: Path, limit: int | None) -> list[Any]:
    """The set's photos in order; while `podocr synth` is still writing (no labels.jsonl yet), the images
    written so far, so that reading can start before generation ends."""
    if (data / "labels.jsonl").exists():
        return list(load_dataset(data, limit=limit))
    files = sorted((data / "images").glob("*.jpg"))[:-1]  # the newest may be half written
    return [_Photo(f.stem, f) for f in files][:limit]


def cmd_barcodes(args: argparse.Namespace) -> None:
    cfg = PodocrConfig.load()
    cache = _load(args.cache)
    for s in load_dataset(args.data, limit=args.limit):
        entry = cache.get(s.id)
        if entry is None or entry.page is None:
            continue
        img = _decode(s, cfg.io)
        if not isinstance(img, str):
            entry.reads, entry.barcode_s = _scan(img, entry.page, cfg)
    _save(cache, args.cache)


def predictions(samples: list[Sample], cache: dict[str, CachedPhoto]) -> tuple[list[Prediction], float]:
    """Predictions as `podocr eval` makes them, from the cached pages and barcode reads; extraction seconds."""
    from podocr.extract import Expected, extract_fields

    cfg = PodocrConfig.load()
    preds: list[Prediction] = []
    extract_s = 0.0
    for s in samples:
        entry = cache.get(s.id)
        if entry is None or entry.page is None:
            preds.append(missing(s.id, entry.error if entry else "not cached", with_extraction=True))
            continue
        expected = Expected.from_row(s.expected) if s.expected else None
        t0 = time.perf_counter()
        ext = extract_fields(entry.page, expected, entry.reads, cfg.verify.recipient_differs_mismatch)
        extract_s += time.perf_counter() - t0
        preds.append(from_pipeline(s.id, entry.page, ext))
    return preds, extract_s


def cmd_score(args: argparse.Namespace) -> None:
    samples = load_dataset(args.data, limit=args.limit)
    cache = _load(args.cache)
    preds, extract_s = predictions(samples, cache)
    ocr_s = sum(c.ocr_s for c in cache.values())
    barcode_s = sum(c.barcode_s for c in cache.values())
    work = ocr_s + barcode_s + extract_s
    meta = {
        "data": str(args.data),
        "cache": str(args.cache),
        "images_per_s": len(samples) / work if work else None,
        "ocr_extract_s": work,
        "decode_s": 0.0,
        "model_load_s": 0.0,
        "barcode_s": barcode_s,
    }
    report = build_report(samples, preds, meta)
    if args.json:
        from podocr.eval.evaluate import write_json

        write_json(report, args.json)
    print(_summary(report))
    if args.misses:
        print(_misses(samples, preds, report))
    if args.table:
        print(format_table(report))


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _summary(report: dict[str, Any]) -> str:
    """The numbers the #16 targets are stated on: tracking, misdelivery F1 per kind, false alarms, hybrids."""
    rows = [("all", report), *report["by"]["legibility"].items(), *report["by"]["layout"].items()]
    out = [
        f"{'':14}{'n':>5}{'track':>8}{'F1':>8}{'P':>7}{'R':>7}{'other':>8}{'addr':>8}{'recip':>8}{'FA':>7}"
    ]
    for name, r in rows:
        k = r.get("kind_f1", {})
        out.append(
            f"{name[:14]:14}{r['n_images']:>5}{_fmt(r['tracking_extracted_accuracy']):>8}"
            f"{_fmt(r['verification_f1']):>8}{_fmt(r['verification_precision']):>7}"
            f"{_fmt(r['verification_recall']):>7}{_fmt(k.get('other_parcel')):>8}"
            f"{_fmt(k.get('address_differs')):>8}{_fmt(k.get('recipient_differs')):>8}"
            f"{_fmt(r['false_alarm_rate']):>7}"
        )
    hyb = report["by"]["layout"].get("hybrid")
    if hyb:
        out.append(f"hybrid: both numbers kept on {_fmt(hyb['hybrid_all_numbers'])}")
    if report.get("barcode_s") is not None and report["ocr_extract_s"]:
        out.append(
            f"barcode decoding {report['barcode_s']:.1f} s of {report['ocr_extract_s']:.1f} s per-photo work "
            f"({report['barcode_s'] / report['ocr_extract_s']:.1%})"
        )
    return "\n".join(out)


def _misses(samples: list[Sample], preds: list[Prediction], report: dict[str, Any]) -> str:
    """Legible tracking misses, false alarms, missed or mis-kinded mismatches: one line each."""
    by_id = {s.id: s for s in samples}
    pred_by = {p.id: p for p in preds}
    out = []
    for row in report["photos"]:
        s, p = by_id[row["id"]], pred_by[row["id"]]
        leg = row["buckets"]["legibility"]
        got = (p.fields or {}).get("tracking_number")
        gt = s.fields.get("tracking_number")
        tags = []
        if leg in ("legible", "severe-blur") and row["extracted"].get("tracking_number") is False:
            tags.append(
                f"TRACK gt={gt}/{s.fields.get('tracking_number_2')} got={got} all={p.tracking_numbers}"
            )
        wrong = (row["truth"] == "mismatch") != (row["verdict"] == "mismatch")
        unread = leg == "legible" and row["verdict"] == "unreadable"
        if row["truth"] is not None and (wrong or unread or row["truth_kind"] != row["pred_kind"]):
            tags.append(
                f"VERDICT truth={row['truth']}/{row['truth_kind']} got={row['verdict']}/{row['pred_kind']}"
            )
        if tags:
            out.append(f"{row['id']} [{leg} {row['buckets']['layout']} {s.carrier}] " + " | ".join(tags))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("ocr", "barcodes", "score"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, required=True)
        p.add_argument("--cache", type=Path, required=True)
        p.add_argument("--limit", type=int, default=None)
        if name == "ocr":
            p.add_argument("--batch", type=int, default=4)
        if name == "score":
            p.add_argument("--json", type=Path, default=None)
            p.add_argument("--misses", action="store_true")
            p.add_argument("--table", action="store_true")
    args = ap.parse_args()
    {"ocr": cmd_ocr, "barcodes": cmd_barcodes, "score": cmd_score}[args.cmd](args)


if __name__ == "__main__":
    main()
