"""The validate phase: the day's manifest read and checked, and the output reachable, before anything is written.

A manifest problem is the input's fault (exit 2: rerunning will not help); storage that cannot be read or
reached is infrastructure (exit 4: retry later).
"""

from __future__ import annotations

import os
import re
from typing import Any

from podocr.config import PodocrConfig
from podocr.io import manifest as manifest_io
from podocr.io.storage import open_fs
from podocr.job.exitcodes import InfrastructureError, InvalidInput

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def validated_manifest(
    cfg: PodocrConfig, date: str, input_root: str, manifest_uri: str | None
) -> manifest_io.Manifest:
    if cfg.job.partition_size < 0:
        raise InvalidInput(f"--partition-size must be ≥ 1 (or 0 = sized), got {cfg.job.partition_size}")
    try:
        manifest_io.parse_date(date)
        uri = manifest_uri or manifest_io.locate(input_root, date, cfg.io)
        return manifest_io.read_manifest(uri, cfg.io)
    except manifest_io.ManifestError as exc:
        raise InvalidInput(str(exc)) from exc
    except Exception as exc:  # endpoint down, credentials refused, …: not the input's fault
        raise InfrastructureError(f"cannot read the manifest: {type(exc).__name__}: {exc}") from exc


def output_storage(output_root: str, cfg: PodocrConfig) -> tuple[Any, str]:
    """(filesystem, path) of the output root; the bucket must answer before we start."""
    try:
        fs, path = open_fs(output_root, cfg.io)
        if _SCHEME.match(output_root) and not output_root.startswith("file://"):
            fs.ls(path.split("/", 1)[0])
        return fs, path
    except Exception as exc:
        raise InfrastructureError(
            f"cannot reach the output {output_root}: {type(exc).__name__}: {exc}"
        ) from exc


def absolute(uri: str) -> str:
    """URIs as given; local paths made absolute so workers in other processes resolve them identically."""
    if _SCHEME.match(uri):
        return uri.rstrip("/")
    return os.path.abspath(os.path.expanduser(uri)).rstrip("/")
