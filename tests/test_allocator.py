"""The allocator settings a worker applies when it loads the models: photo-sized arrays come back from the heap.

Measured by the kernel's count of minor page faults (each a page handed out anew), not by time: a process started
as Dask's nanny starts workers (MALLOC_TRIM_THRESHOLD_ set) faults in every page of every large array it
allocates; after `tune_allocator` it faults them in once and reuses them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from podocr.config import PodocrConfig

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

_FAULTS = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np

    def faults_per_round(rounds=30):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(rounds):
            a = np.ones((768, 1024, 2), np.uint8)  # a 1.5 MiB crop-sized array, written through
            b = a.astype(np.float32)  # and a 6 MiB model-input-sized one (under the default threshold)
            del a, b
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds

    faults_per_round(3)
    result = {"before": faults_per_round()}
    SETUP
    faults_per_round(3)
    result["after"] = faults_per_round()
    print(json.dumps(result))
    """
)


def _faults(setup: str) -> dict[str, float]:
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")  # what Dask's nanny gives each worker
    code = _FAULTS.replace("SETUP", setup)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tuned_allocator_reuses_large_arrays_instead_of_mapping_them_anew() -> None:
    job = PodocrConfig().job
    faults = _faults(
        "from podocr.job.allocator import tune_allocator; "
        f"assert tune_allocator({job.malloc_mmap_threshold_mib}, {job.malloc_trim_threshold_mib}, "
        f"{job.malloc_arena_max})"
    )
    assert (
        faults["before"] >= 5
    )  # both arrays faulted in anew on every round (huge pages make it fewer faults)
    assert faults["after"] < 0.05 * faults["before"]


def test_zero_thresholds_leave_the_allocator_alone() -> None:
    faults = _faults("from podocr.job.allocator import tune_allocator; assert not tune_allocator(0, 0, 0)")
    assert faults["after"] > 0.8 * faults["before"]


def test_the_worker_cache_tunes_the_allocator_when_it_loads_a_pipeline() -> None:
    faults = _faults(
        "from podocr.config import PodocrConfig; from podocr.job.cache import get_pipeline; "
        "get_pipeline(PodocrConfig())"
    )
    assert faults["after"] < 0.05 * faults["before"]
