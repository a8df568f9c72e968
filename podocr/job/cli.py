"""Command-line glue for `podocr batch`: config and logging set-up, backfill ranges, the printed summary.

Kept apart from the run itself (job/runner.py), which takes a config and a date and knows nothing of terminals.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from podocr.config import ConfigError, PodocrConfig
from podocr.job.exitcodes import ExitCode, JobError


def setup_cli_logging(cfg: PodocrConfig, verbose: bool = False) -> None:
    """Our log format on stderr; without --verbose, only warnings — Dask's start/stop chatter is not for operators."""
    from podocr.logs import setup_logging

    setup_logging("INFO" if verbose else "WARNING", json_lines=cfg.job.log_json)
    if not verbose and cfg.job.scheduler != "synchronous":
        import distributed  # noqa: F401  (its import configures its loggers at INFO: quiet them after that)

        logging.getLogger("distributed").setLevel(logging.WARNING)


def backfill_dates(
    date: str | None, start: str | None, end: str | None, manifest_uri: str | None
) -> list[str]:
    """The days one `podocr batch` call runs: `--date D`, or every day of `--start S --end E` (inclusive)."""
    if date and (start or end):
        raise ValueError("give either --date or --start/--end, not both")
    if date:
        return [date]
    if not (start and end):
        raise ValueError("give --date, or both --start and --end")
    if manifest_uri:
        raise ValueError("--manifest names one day's manifest; it cannot be used with --start/--end")
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise ValueError(f"invalid --start/--end: {exc}") from exc
    if last < first:
        raise ValueError(f"--end {end} is before --start {start}")
    if (last - first).days > 366:
        raise ValueError("a backfill spans at most 367 days per call")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def batch_main(
    date: str,
    overrides: dict[str, Any],
    manifest_uri: str | None = None,
    resume: bool = False,
    as_json: bool = False,
    verbose: bool = False,
) -> int:
    """`podocr batch`: run, print the summary (or `_SUCCESS` JSON), and return the exit code."""
    from podocr.job.console_summary import format_summary
    from podocr.job.runner import run_batch

    try:
        cfg = PodocrConfig.load(overrides=overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    setup_cli_logging(cfg, verbose)
    cfg.job.progress = cfg.job.progress and sys.stderr.isatty()

    def echo(text: str) -> None:
        print(text, file=sys.stderr if as_json else sys.stdout, flush=True)

    try:
        success = run_batch(cfg, date, manifest_uri=manifest_uri, resume=resume, echo=echo)
    except JobError as exc:
        print(f"error ({exc.exit_code.name.lower().replace('_', ' ')}): {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if as_json:
        print(json.dumps(success, indent=2, default=str))
    else:
        echo(format_summary(success))
    return int(ExitCode.OK)
