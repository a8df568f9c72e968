"""Structured logging: JSON-lines shape, run/partition context, and credential redaction on every path."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading

import pytest

from podocr.logs import log_context, redact, setup_logging

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture()
def capture():
    """A podocr handler on root writing to a buffer; root's level and handlers restored afterwards."""
    root = logging.getLogger()
    saved_level, saved = root.level, list(root.handlers)
    buf = io.StringIO()

    def install(**kwargs):
        setup_logging(stream=buf, **kwargs)
        return buf

    yield install
    for h in list(root.handlers):
        if h not in saved:
            root.removeHandler(h)
    root.setLevel(saved_level)


def _json_lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_json_lines_have_the_documented_fields(capture):
    buf = capture(level="INFO", json_lines=True, run_id="run-123")
    log = logging.getLogger("podocr.job")
    log.info("partition %d done", 4, extra={"rows": 256})
    log.debug("not shown at INFO")
    with log_context(partition=7):
        log.warning("slow partition")
    (first, second) = _json_lines(buf)
    assert set(first) >= {"ts", "level", "logger", "msg", "run_id", "partition"}
    assert first["msg"] == "partition 4 done"
    assert first["level"] == "INFO" and first["logger"] == "podocr.job"
    assert first["run_id"] == "run-123" and first["partition"] is None
    assert first["rows"] == 256
    assert first["ts"].endswith("+00:00") and "T" in first["ts"]
    assert second["partition"] == 7 and second["level"] == "WARNING"


def test_context_is_restored_and_is_per_thread(capture):
    buf = capture(json_lines=True)
    log = logging.getLogger("podocr.test")
    seen: dict[str, dict] = {}

    def work(part: int) -> None:
        with log_context(run_id="r", partition=part):
            log.info("in %d", part)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.info("outside")
    for rec in _json_lines(buf):
        seen[rec["msg"]] = rec
    assert {seen[f"in {i}"]["partition"] for i in range(4)} == {0, 1, 2, 3}
    assert seen["outside"]["partition"] is None and seen["outside"]["run_id"] is None


def test_setup_twice_replaces_its_own_handler(capture):
    capture(json_lines=False)
    buf = capture(json_lines=True, run_id="second")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_podocr", False)]
    assert len(ours) == 1
    logging.getLogger("x").warning("once")
    assert len(_json_lines(buf)) == 1


@pytest.mark.parametrize(
    ("raw", "must_not_contain"),
    [
        (f"aws_secret_access_key={SECRET}", SECRET),
        (f"{{'aws_secret_access_key': '{SECRET}', 'region': 'us-east-1'}}", SECRET),
        (f'AWS_SECRET_ACCESS_KEY="{SECRET}"', SECRET),
        (f"using key {KEY_ID} for s3", "IOSFODNN7EXAMPLE"),
        (
            "GET https://b.s3.amazonaws.com/p.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261126%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7 failed",
            "5d672d79c15b",
        ),
        ("fetch s3://alice:hunter2@minio.local/bucket/x.jpg", "hunter2"),
        ("redis://:s3cr3t@cache:6379/0 down", "s3cr3t"),
        ("https://blob/x.jpg?sv=2022&sig=abcDEF123%3D&se=2026", "abcDEF123"),
        ("session_token: FQoGZXIvYXdzEJr//////////wEaDOEXAMPLE", "FQoGZXIvYXdz"),
    ],
)
def test_redact_masks_credentials(raw: str, must_not_contain: str):
    cleaned = redact(raw)
    assert must_not_contain not in cleaned
    assert "***" in cleaned


@pytest.mark.parametrize(
    "benign",
    [
        "partition 3: 256 rows, 12 no_text, 1 error (decode_failed)",
        "s3://bucket/pod/2026-11-26/0001.jpg",
        "tracking 1Z999AA10123456784 valid (ups)",
        "max_tokens=5 tokenizer ready",
        "https://example.com/path?a=1&b=2",
    ],
)
def test_redact_leaves_ordinary_text_alone(benign: str):
    assert redact(benign) == benign


def test_every_path_into_the_log_is_redacted(capture):
    buf = capture(json_lines=True)
    log = logging.getLogger("botocore.credentials")  # third-party loggers go through the same handler
    log.info("credentials %s", {"aws_secret_access_key": SECRET})
    log.info("plain", extra={"uri": "s3://u:hunter2@host/b"})
    try:
        raise RuntimeError(f"connect failed aws_secret_access_key={SECRET}")
    except RuntimeError:
        log.exception("boom")
    text = buf.getvalue()
    assert SECRET not in text and "hunter2" not in text
    records = _json_lines(buf)
    assert len(records) == 3 and "exc" in records[2] and "RuntimeError" in records[2]["exc"]


def test_text_format_carries_context(capture):
    buf = capture(json_lines=False, run_id="run-9")
    with log_context(partition=2):
        logging.getLogger("podocr.job").info("password=letmein retry %d", 1)
    line = buf.getvalue().strip()
    assert " INFO podocr.job [run=run-9 part=2] password=*** retry 1" in line
    assert "letmein" not in line


def test_fresh_process_logs_json_to_stderr():
    """What a Dask worker or cron sees: a new interpreter calling setup_logging, stdout left for results."""
    code = (
        "import logging; from podocr.logs import setup_logging; "
        "setup_logging('info', json_lines=True, run_id='r1'); "
        "logging.getLogger('podocr').info('hello'); print('result')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == "result"
    rec = json.loads(proc.stderr.strip().splitlines()[-1])
    assert rec["msg"] == "hello" and rec["run_id"] == "r1"
