"""Whole-process comparison: `podocr batch` on a day of photos vs RapidOCR 1.4.4 on the same photos.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/job_vs_rapidocr.py --data data/bench1000 \\
        --sizes 100,1000 --rounds 1 --json bench-job.json

What a user sees is timed: each side is a fresh process, start-up included (imports, model loading, for podocr
also the Dask cluster and the report). podocr runs `podocr batch --date D` with its default configuration (or
`--config FILE`, passed as `podocr --config FILE batch`) on a day folder made of the data folder's first N
photos (manifest + hard-linked photos); RapidOCR runs `RapidOCR()(img)` per photo in a process of its own,
as a new user would write it. The two alternate (order flipped every round), so background load hits both.

Both are scored by one scorer (benchkit.score: line recall and tracking accuracy from podocr.eval.metrics).
Photos whose label fills less than `--small-label` of the frame are also run as days of their own and
reported apart: their labels are small in the frame, which is where the crop/resolution policy matters.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchkit import machine, score

DATE = "2026-01-15"


@dataclass
class Run:
    """One side's whole-process run on one day."""

    tool: str
    wall_s: float
    returncode: int
    photos_per_s: float
    line_recall: float | None
    tracking_accuracy: float | None
    errors: int
    tail: str  # last lines of the process output (podocr: its run summary)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="Labelled folder (podocr synth output).")
    ap.add_argument("--sizes", default="100,1000", help="Day sizes (photos), comma-separated.")
    ap.add_argument("--rounds", type=int, default=1, help="Runs of each side per day, alternating.")
    ap.add_argument(
        "--small-label", type=float, default=0.15, help="Label-area share below which a photo is 'small'."
    )
    ap.add_argument(
        "--config", default=None, help="TOML config for podocr batch (default: none, the defaults)."
    )
    ap.add_argument("--workdir", default=None, help="Where days and outputs go (default: a temp folder).")
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--rapid-worker", nargs=2, metavar=("LIST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rapid_worker:
        rapid_worker(Path(args.rapid_worker[0]), Path(args.rapid_worker[1]))
        return {}

    from podocr.eval.dataset import load_dataset

    samples = load_dataset(args.data)
    small = [s for s in samples if s.has_label and _area(s) < args.small_label]
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if max(sizes) > len(samples):
        raise SystemExit(
            f"{args.data} has {len(samples)} photos; a day of {max(sizes)} needs more: "
            f"`podocr synth --out DIR --n {max(sizes)} --seed 7`"
        )
    work = Path(args.workdir or tempfile.mkdtemp(prefix="podocr-job-bench-"))
    days: list[tuple[str, list[Any]]] = []
    for n in sizes:
        days.append((f"all-{n}", samples[:n]))
        if small:
            days.append((f"small-label-{min(n, len(small))}", small[:n]))
    rows: list[dict[str, Any]] = []
    for name, day in days:
        root = build_day(work / name, day, Path(args.data))
        runs: dict[str, list[Run]] = {"podocr": [], "rapidocr": []}
        for r in range(args.rounds):
            order = ["podocr", "rapidocr"] if r % 2 == 0 else ["rapidocr", "podocr"]
            for tool in order:
                out = work / name / f"out-{tool}-{r}"
                run = (
                    run_podocr(root, out, day, args.config)
                    if tool == "podocr"
                    else run_rapidocr(root, out, day)
                )
                runs[tool].append(run)
                print(f"{name} round {r} {tool}: {run.wall_s:.1f} s (exit {run.returncode})", file=sys.stderr)
        rows.append(summarise(name, len(day), runs))
    report = {
        "machine": machine(),
        "data": args.data,
        "config": args.config,
        "rounds": args.rounds,
        "days": rows,
    }
    print(format_table(rows))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _area(sample: Any) -> float:
    frac = sample.condition.get("label_area_frac")
    return float(frac) if frac is not None else 1.0


def build_day(folder: Path, samples: Sequence[Any], data: Path) -> Path:
    """`folder`/input/manifests/date=DATE/manifest.csv listing these photos, which go to `folder`/input/images/
    (hard links where the file system allows, copies otherwise: relative image URIs resolve against the input
    root); returns the input root for `podocr batch --input`."""
    root = folder / "input"
    day = root / "manifests" / f"date={DATE}"
    day.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    expected = _manifest_rows(data)
    columns = [
        "delivery_id",
        "image_uri",
        *sorted({k for r in expected.values() for k in r} - {"delivery_id", "image_uri"}),
    ]
    with open(day / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for s in samples:
            target = root / "images" / s.image.name
            if not target.exists():
                try:
                    os.link(s.image, target)
                except OSError:
                    shutil.copyfile(s.image, target)
            row = dict(expected.get(s.id, {}))
            row.update(delivery_id=s.id, image_uri=f"images/{s.image.name}")
            w.writerow({c: row.get(c, "") for c in columns})
    return root


def _manifest_rows(data: Path) -> dict[str, dict[str, str]]:
    path = data / "manifest.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["delivery_id"]: r for r in csv.DictReader(fh)}


def _env() -> dict[str, str]:
    """This environment without podocr settings, so the job runs as configured by `--config` or defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PODOCR__") and k != "PODOCR_CONFIG"}


def _timed(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
    return wall, proc.returncode, tail


def run_podocr(root: Path, out: Path, samples: Sequence[Any], config: str | None) -> Run:
    """`podocr [--config F] batch --date D` in a fresh process (cwd = the day folder: no ./podocr.toml)."""
    exe = Path(sys.executable).with_name("podocr")
    base = [str(exe)] if exe.is_file() else [sys.executable, "-c", "from podocr.cli import main; main()"]
    cmd = [*base, *(["--config", str(Path(config).resolve())] if config else [])]
    cmd += ["batch", "--date", DATE, "--input", str(root), "--output", str(out)]
    wall, rc, tail = _timed(cmd, root.parent)
    preds: dict[str, list[str]] = {}
    errors = 0
    results = out / "ocr_results" / f"date={DATE}"
    if results.is_dir():
        from podocr.eval.results import load_results

        for sid, p in load_results(results).items():
            preds[sid] = p.lines
            errors += p.error is not None
    return _run("podocr", wall, rc, samples, preds, errors, tail)


def run_rapidocr(root: Path, out: Path, samples: Sequence[Any]) -> Run:
    """This script's `--rapid-worker` in a fresh process: `RapidOCR()(img)` per photo, lines to JSONL."""
    out.mkdir(parents=True, exist_ok=True)
    listing = out / "photos.txt"
    listing.write_text("\n".join(f"{s.id}\t{s.image}" for s in samples), encoding="utf-8")
    result = out / "lines.jsonl"
    wall, rc, tail = _timed(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--data",
            "-",
            "--rapid-worker",
            str(listing),
            str(result),
        ],
        root.parent,
    )
    preds: dict[str, list[str]] = {}
    if result.is_file():
        for raw in result.read_text(encoding="utf-8").splitlines():
            rec = json.loads(raw)
            preds[rec["id"]] = rec["lines"]
    return _run("rapidocr", wall, rc, samples, preds, len(samples) - len(preds), tail)


def rapid_worker(listing: Path, out: Path) -> None:
    """The RapidOCR side, as a new user writes it: one engine, defaults, one call per photo."""
    import cv2
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    with open(out, "w", encoding="utf-8") as fh:
        for raw in listing.read_text(encoding="utf-8").splitlines():
            sid, path = raw.split("\t", 1)
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            result, _ = engine(img) if img is not None else (None, None)
            fh.write(json.dumps({"id": sid, "lines": [r[1] for r in result or []]}) + "\n")


def _run(
    tool: str,
    wall: float,
    rc: int,
    samples: Sequence[Any],
    preds: dict[str, list[str]],
    errors: int,
    tail: str,
) -> Run:
    s = score(samples, [preds.get(x.id, []) for x in samples])
    return Run(tool, wall, rc, len(samples) / wall, s["line_recall"], s["tracking_accuracy"], errors, tail)


def summarise(name: str, n: int, runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Per day: each side's best (least disturbed) wall time, its accuracy, and the speed ratio."""
    best = {tool: min(rs, key=lambda r: r.wall_s) for tool, rs in runs.items()}
    p, r = best["podocr"], best["rapidocr"]
    return {
        "day": name,
        "photos": n,
        "podocr": asdict(p),
        "rapidocr": asdict(r),
        "walls_s": {tool: [round(x.wall_s, 2) for x in rs] for tool, rs in runs.items()},
        "speed_ratio": p.photos_per_s / r.photos_per_s,
    }


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'day':18} {'photos':>6} | {'podocr s':>8} {'ph/s':>6} {'recall':>6} {'track':>6} | "
        f"{'rapid s':>8} {'ph/s':>6} {'recall':>6} {'track':>6} | {'ratio':>5}"
    )
    lines = [head, "-" * len(head)]

    def f(x: float | None) -> str:
        return "   n/a" if x is None else f"{x:6.3f}"

    for row in rows:
        p, r = row["podocr"], row["rapidocr"]
        lines.append(
            f"{row['day']:18} {row['photos']:6d} | {p['wall_s']:8.1f} {p['photos_per_s']:6.2f} "
            f"{f(p['line_recall'])} {f(p['tracking_accuracy'])} | {r['wall_s']:8.1f} {r['photos_per_s']:6.2f} "
            f"{f(r['line_recall'])} {f(r['tracking_accuracy'])} | {row['speed_ratio']:5.2f}"
        )
        for tool in ("podocr", "rapidocr"):
            if row[tool]["returncode"] != 0 or row[tool]["errors"]:
                lines.append(f"  {tool}: exit {row[tool]['returncode']}, {row[tool]['errors']} errors:")
                lines.extend("    " + ln for ln in row[tool]["tail"].splitlines()[-8:])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
