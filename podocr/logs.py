"""Logging set-up: plain text for people, JSON lines for log shippers, and credentials scrubbed from both.

Why here and not in each command: the job runs on many processes (client, Dask workers) and every one of
them must log the same shape with the same `run_id`, and no log line may ever carry an AWS key, a presigned
URL's signature or a `user:pass@` URI — those end up in log stores with far wider access than the bucket.

`run_id` and `partition` travel in context variables, so code deep in the pipeline does not have to thread
them through: the job sets them once with `log_context(...)` around a partition's work.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("podocr_run_id", default=None)
_PARTITION: contextvars.ContextVar[int | str | None] = contextvars.ContextVar(
    "podocr_partition", default=None
)

_MASK = "***"
_SECRET_NAMES = (
    r"aws_secret_access_key|aws_session_token|secret_access_key|secret_key|session_token|security_token"
    r"|password|passwd|api_key|apikey|access_token|auth_token|client_secret|token|secret"
)
# (pattern, replacement) applied in order; each keeps the name so a reader still sees *what* was removed.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Presigned-URL query parameters: the signature, the credential scope and the STS token.
    (re.compile(r"(?i)(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s'\"]+"), rf"\1{_MASK}"),
    (re.compile(r"(?i)\b(Signature=)[^&\s'\"]+"), rf"\1{_MASK}"),
    (re.compile(r"([?&]sig=)[^&\s'\"]+"), rf"\1{_MASK}"),  # Azure SAS / GCS-style signed URLs
    # name=value, name: value, 'name': 'value', "name" = "value" (config dumps, dict reprs, CLI args).
    (
        re.compile(rf"(?i)\b((?:{_SECRET_NAMES})['\"]?\s*[=:]\s*['\"]?)(?!\*\*\*)[^\s'\",&;}})]+"),
        rf"\1{_MASK}",
    ),
    # Userinfo in any URI: scheme://user:password@host → scheme://user:***@host.
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(@)"), rf"\1{_MASK}\2"),
    # AWS access key ids (long-term AKIA…, temporary ASIA…, and the other documented id prefixes).
    (
        re.compile(r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{4})[A-Z0-9]{12}\b"),
        rf"\1{_MASK}",
    ),
)


def redact(text: str) -> str:
    """`text` with credentials masked (see `_REDACTIONS`); safe to call on anything bound for a log or report."""
    for pattern, repl in _REDACTIONS:
        text = pattern.sub(repl, text)
    return text


class RedactFilter(logging.Filter):
    """Rewrites each record's message with credentials masked.

    Attached to the *handler* (not a logger) so it sees records from every library that propagates to root —
    botocore, s3fs and distributed included — not just ours.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class ContextFilter(logging.Filter):
    """Copies the current run id and partition from the context variables onto the record."""

    def __init__(self, run_id: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = _RUN_ID.get() or self.run_id
        record.partition = _PARTITION.get()
        return True


# LogRecord attributes that are not user `extra=` fields; everything else on a record is passed through to JSON.
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "run_id",
    "partition",
}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, run_id, partition, any `extra=` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "partition": getattr(record, "partition", None),
        }
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # Redact the whole line as well: tracebacks and `extra=` values bypass the message filter.
        return redact(json.dumps(out, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """`2026-11-26T10:00:00.123Z INFO podocr.job [run=… part=3] message` — for terminals and cron mail."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        run_id, partition = getattr(record, "run_id", None), getattr(record, "partition", None)
        tags = []
        if run_id:
            tags.append(f"run={run_id}")
        if partition is not None:
            tags.append(f"part={partition}")
        ctx = f" [{' '.join(tags)}]" if tags else ""
        line = f"{ts} {record.levelname} {record.name}{ctx} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def setup_logging(
    level: str | int = "INFO",
    json_lines: bool = False,
    run_id: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install one stderr handler on the root logger (replacing any earlier podocr handler) and return it.

    Safe to call again (e.g. once the run id is known, or on each Dask worker via `client.run`): it swaps
    our handler rather than stacking a second one. Other handlers already on root are left alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_podocr", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._podocr = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter(run_id))
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonLinesFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


@contextlib.contextmanager
def log_context(run_id: str | None = None, partition: int | str | None = None) -> Iterator[None]:
    """Tag every log line inside the block with this run id and/or partition (restored on exit)."""
    tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    if run_id is not None:
        tokens.append((_RUN_ID, _RUN_ID.set(run_id)))
    if partition is not None:
        tokens.append((_PARTITION, _PARTITION.set(partition)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
