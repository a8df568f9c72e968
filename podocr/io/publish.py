"""Publishing a staged run as the day's results, so the day is never without a marker nor half-visible.

    1. place   every staged part in the day folder under a run-unique name (`part-NNNNN-<run_id>.parquet`):
               a hard link locally (no copy, staging keeps its file), a server-side copy on S3. Nothing the
               current `_SUCCESS` lists is touched, so the old day stays complete and marked;
    2. mark    write `_SUCCESS`, listing exactly this run's parts, in one atomic step (temp + rename locally,
               one PUT on S3): before it readers get the old day, after it the new one, never neither;
    3. clean   remove the parts no longer listed (the previous run's, and strays of crashed publishes);
    4. unstage remove the run's staging folder.

Every step is idempotent, so a publish killed anywhere is finished by running it again (`--resume`, which finds
the staged run) — or superseded by the next run, whose step 3 removes what this one left. Plain glob readers of
`date=D/*.parquet` see both runs' parts between steps 1 and 3; readers that take the file list from `_SUCCESS`
see exactly one run (docs/schema.md).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from typing import Any

from podocr.io.sink import (
    SUCCESS,
    DayLayout,
    _is_local,
    part_name,
    partition_of,
    read_json,
    write_json_atomic,
)

Step = tuple[str, Callable[[], None]]


def publish_day(
    fs: Any, layout: DayLayout, run_id: str, parts: dict[int, str], success: dict[str, Any]
) -> dict[str, Any]:
    """Publish `parts` (staged paths by partition) with `success` as the day's `_SUCCESS`; returns it as written."""
    document, steps = publish_steps(fs, layout, run_id, parts, success)
    for _, step in steps:
        step()
    return document


def publish_steps(
    fs: Any, layout: DayLayout, run_id: str, parts: dict[int, str], success: dict[str, Any]
) -> tuple[dict[str, Any], Iterator[Step]]:
    """The `_SUCCESS` document and the publish as single-file steps, in order (tests stop it between any two)."""
    names = {index: part_name(index, run_id) for index in sorted(parts)}
    document = {**success, "files": list(names.values())}

    def steps() -> Iterator[Step]:
        fs.makedirs(layout.results, exist_ok=True)
        for index, name in names.items():
            target = f"{layout.results}/{name}"
            yield f"place {name}", lambda src=parts[index], dst=target: _place(fs, src, dst)  # type: ignore[misc]
        yield SUCCESS, lambda: write_json_atomic(fs, document, f"{layout.results}/{SUCCESS}")
        for path in unlisted_parts(fs, layout.results, set(names.values())):
            yield f"remove {path.rsplit('/', 1)[-1]}", lambda p=path: _remove(fs, p)  # type: ignore[misc]
        staging = layout.staging(run_id)
        yield "remove staging", lambda: _remove(fs, staging, recursive=True)
        fs.invalidate_cache(layout.results)  # no stale listing of the day for the caller's later reads

    return document, steps()


def committed_files(fs: Any, layout: DayLayout) -> list[str] | None:
    """The part paths the day's `_SUCCESS` lists, None when the day is not committed."""
    success = read_json(fs, f"{layout.results}/{SUCCESS}")
    if success is None:
        return None
    return [f"{layout.results}/{name}" for name in success.get("files", [])]


def unlisted_parts(fs: Any, folder: str, listed: set[str]) -> list[str]:
    """Part files in `folder` that `listed` does not name (another run's, or strays)."""
    if not fs.isdir(folder):
        return []
    fs.invalidate_cache(folder)
    return sorted(
        path
        for path in fs.ls(folder, detail=False)
        if partition_of(name := path.rsplit("/", 1)[-1]) is not None and name not in listed
    )


def _place(fs: Any, src: str, dst: str) -> None:
    if not _is_local(fs):
        fs.copy(src, dst)
        return
    folder, name = dst.rsplit("/", 1)
    tmp = f"{folder}/.{name}.link-tmp"  # dot-prefixed: invisible to table readers if a kill leaves it
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        fs.copy(src, tmp)  # another filesystem, or no hard links there: copy instead
    os.replace(tmp, dst)  # a rerun of this step replaces its own earlier result


def _remove(fs: Any, path: str, recursive: bool = False) -> None:
    with contextlib.suppress(FileNotFoundError):  # already gone: a rerun of this step, or another clean-up
        fs.rm(path, recursive=recursive)
