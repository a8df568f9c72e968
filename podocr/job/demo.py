"""`podocr demo`: a synthetic day through the real job on a local Dask cluster, then a DuckDB query over it.

It is the README's first command, so it must work on a fresh machine after `make setup`: photos come from our
own generator (reused when the folder already holds the same seed and count), models from the pinned store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podocr.config import PodocrConfig
from podocr.job.console_summary import format_summary
from podocr.job.runner import run_batch

DEMO_DATE = "2026-11-26"
STAMP = ".demo.json"


def ensure_day(folder: Path, n: int, seed: int, date: str, workers: int, echo: Callable[[str], None]) -> None:
    """Generate the synthetic day into `folder` unless it already holds exactly this one."""
    want = {"n": n, "seed": seed, "date": date}
    stamp = folder / STAMP
    manifest = folder / "manifests" / f"date={date}" / "manifest.csv"
    if stamp.is_file() and manifest.is_file() and json.loads(stamp.read_text()) == want:
        echo(f"reusing {n} synthetic photos in {folder} (seed {seed})")
        return
    from podocr.synth import generate

    echo(f"generating {n} synthetic POD photos into {folder} (seed {seed}) …")
    generate(folder, n, seed, date=date, workers=workers)
    stamp.write_text(json.dumps(want) + "\n")


def run_demo(
    folder: str = "demo",
    n: int = 240,
    seed: int = 0,
    date: str = DEMO_DATE,
    partition_size: int = 20,
    scheduler: str = "",
    n_workers: int = 0,
    model_set: str | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    root = Path(folder).expanduser().absolute()
    root.mkdir(parents=True, exist_ok=True)
    cfg = PodocrConfig.load(
        overrides={
            "job.input": str(root),
            "job.output": str(root / "out"),
            "job.images_root": str(root),
            "job.partition_size": partition_size,
            "job.scheduler": scheduler,
            "job.n_workers": n_workers,
            "job.cuda": False,
            "engine.provider": "cpu",
            "models.set": model_set,
        }
    )
    ensure_day(root, n, seed, date, max(1, n_workers or 2), echo)
    success = run_batch(cfg, date, echo=echo)
    echo(format_summary(success))
    echo("")
    for sql in demo_queries(str(root / "out"), date):
        echo(sql)
        echo(duckdb_table(sql))
    return success


def demo_queries(output: str, date: str) -> list[str]:
    source = f"read_parquet('{output}/ocr_results/*/*.parquet', hive_partitioning = true)"
    return [
        f"SELECT status, verification, count(*) AS photos, round(avg(mean_confidence), 3) AS mean_conf\n"
        f"FROM {source}\nWHERE date = DATE '{date}'\nGROUP BY ALL ORDER BY photos DESC;",
        f"SELECT carrier, count(*) AS photos, count(*) FILTER (WHERE tracking_valid) AS valid_tracking\n"
        f"FROM {source}\nWHERE date = DATE '{date}' AND status = 'ok'\nGROUP BY ALL ORDER BY photos DESC;",
    ]


def duckdb_table(sql: str) -> str:
    import duckdb

    with duckdb.connect() as con:
        return str(con.sql(sql))


def demo_main(
    folder: str, n: int, seed: int, partition_size: int, scheduler: str, n_workers: int, model_set: str | None
) -> int:
    """`podocr demo`: like `podocr batch`, returns the exit code after printing what went wrong."""
    import sys

    from podocr.job.cli import setup_cli_logging
    from podocr.job.exitcodes import ExitCode, JobError

    setup_cli_logging(PodocrConfig.load(overrides={"job.scheduler": scheduler}))
    try:
        run_demo(folder, n, seed, DEMO_DATE, partition_size, scheduler, n_workers, model_set)
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return int(ExitCode.OK)
