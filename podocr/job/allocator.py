"""Allocator settings for a process that runs the OCR: large arrays reused from the heap, not mapped anew.

glibc serves allocations above its mmap threshold with a fresh mmap and returns them with munmap on free. Left
alone, the threshold rises to the size of the largest block freed, so a process that handles photo-sized arrays
soon reuses heap memory. Setting `MALLOC_TRIM_THRESHOLD_` (Dask's nanny sets it for every worker it starts, to
hand freed memory back to the OS) switches that adaptation off and keeps the threshold at 128 KiB: every decoded
photo, resized canvas and feature map is then mapped, zero-filled page by page and unmapped again, and the
worker spends as much time in the kernel as in the models. The variables are read once at process start, so
the fix is `mallopt` from inside the worker, the first time it loads the models; it works the same on clusters
the job starts and on clusters it joins. Other C libraries and platforms are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_allocator(mmap_threshold_mib: int, trim_threshold_mib: int, arena_max: int = 0) -> bool:
    """Set glibc's mmap and trim thresholds and arena count for this process (0 leaves one as it is); True if
    glibc took them.

    Fewer arenas matter once freed memory is kept: each thread that allocates (fetch, prefetch, deadline threads)
    may otherwise get an arena of its own, each holding its own free photo-sized blocks.
    Setting the same values again changes nothing, so a worker simply calls it with every pipeline it installs."""
    mmap_mib, trim_mib = mmap_threshold_mib, trim_threshold_mib
    if not sys.platform.startswith("linux") or max(mmap_mib, trim_mib, arena_max) <= 0:
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    ok = True
    if mmap_mib > 0:
        ok &= bool(mallopt(M_MMAP_THRESHOLD, mmap_mib << 20))
    if trim_mib > 0:
        ok &= bool(mallopt(M_TRIM_THRESHOLD, trim_mib << 20))
    if arena_max > 0:
        ok &= bool(mallopt(M_ARENA_MAX, arena_max))
    if not ok:
        log.warning(
            "glibc refused mallopt(mmap %d MiB, trim %d MiB, arenas %d)", mmap_mib, trim_mib, arena_max
        )
    return ok


def _glibc_mallopt() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """glibc's mallopt, or None (musl, macOS, or no C library found)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it: musl's mallopt is a no-op)
    except (OSError, AttributeError):
        return None
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt
