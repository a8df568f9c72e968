"""A Dask worker preload for the memory-limit test: the first worker to run a partition starts leaking.

Loaded into every worker process (`distributed.worker.preload`); only the first one to claim the marker file
leaks, and only once it is executing a task, so the models load normally and a partition is in flight when its
nanny kills the worker over its memory limit. The restarted worker finds the marker taken and behaves.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

MARKER = os.environ.get("PODOCR_TEST_LEAK_MARKER", "")


def dask_setup(worker: Any) -> None:
    if not MARKER:
        return
    try:
        fd = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)

    def leak() -> None:
        while not worker.state.executing:
            time.sleep(0.05)
        hoard = []
        while True:  # 64 MiB of touched pages every 20 ms, until the nanny steps in
            hoard.append(bytearray(64 * 1024 * 1024))
            time.sleep(0.02)

    threading.Thread(target=leak, name="test-leak", daemon=True).start()
