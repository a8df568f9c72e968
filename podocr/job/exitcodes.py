"""Exit codes of `podocr batch`, and the exceptions that carry them — the one place a scheduler (Airflow, cron,
Kubernetes) learns what a non-zero status means.

* 2 — the input is wrong (manifest, date, arguments): rerunning will not help; fix the input.
* 3 — some partitions failed after their retries (or ran past their deadline every time): nothing was
  committed, the finished partitions stay staged; `--resume` redoes only the others.
* 4 — infrastructure: the cluster, storage, GPU or models could not be reached or loaded; retry later.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

T = TypeVar("T")


class ExitCode(IntEnum):
    OK = 0
    INVALID_INPUT = 2
    PARTIAL_FAILURE = 3
    INFRASTRUCTURE = 4


class JobError(Exception):
    """A job-level failure; `exit_code` says which kind, the message says what to do about it."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE


class InvalidInput(JobError):
    exit_code = ExitCode.INVALID_INPUT


class PartialFailure(JobError):
    exit_code = ExitCode.PARTIAL_FAILURE


class InfrastructureError(JobError):
    exit_code = ExitCode.INFRASTRUCTURE


def storage_step(fn: Callable[..., T], *args: Any) -> T:
    """Run a storage step; storage failures become exit 4 (infrastructure), naming the step."""
    try:
        return fn(*args)
    except JobError:
        raise
    except Exception as exc:
        raise InfrastructureError(f"storage step {fn.__name__} failed: {type(exc).__name__}: {exc}") from exc
