"""Job sizing: every core busy for small and large days, explicit settings kept, the choice in the summary."""

from __future__ import annotations

import pytest

from podocr.config import PodocrConfig
from podocr.io.manifest import partition_bounds
from podocr.job.sizing import MAX_PARTITION, MIN_PARTITION, PARTS_PER_WORKER, size_job


@pytest.mark.parametrize("rows", [1, 7, 100, 1000, 10_000, 1_000_000])
@pytest.mark.parametrize("cores", [1, 2, 8])
def test_auto_sizing_keeps_every_core_busy(rows, cores):
    s = size_job(PodocrConfig(), rows, cores)
    assert MIN_PARTITION <= s.partition_size <= MAX_PARTITION
    assert s.n_partitions == len(partition_bounds(rows, s.partition_size))
    assert s.n_workers == min(cores, s.n_partitions)
    assert s.n_workers * s.batch_threads * s.intra_op_threads <= cores
    # cores left over by too few partitions go to batch threads, never to idle
    assert s.n_workers * s.batch_threads == min(cores, s.n_workers * (cores // s.n_workers))
    if rows >= cores * PARTS_PER_WORKER * MIN_PARTITION:  # enough photos: balance over several partitions
        assert s.n_partitions >= min(PARTS_PER_WORKER * cores, rows // MAX_PARTITION)


def test_days_from_the_issue_on_two_cores():
    small = size_job(PodocrConfig(), 100, 2)
    assert (small.n_workers, small.batch_threads, small.intra_op_threads) == (2, 1, 1)
    assert small.n_partitions >= 2 * PARTS_PER_WORKER - 1
    tiny = size_job(PodocrConfig(), 5, 2)
    assert (tiny.n_partitions, tiny.n_workers, tiny.batch_threads) == (1, 1, 2)
    big = size_job(PodocrConfig(), 1_000_000, 2)
    assert big.partition_size == MAX_PARTITION and big.n_workers == 2


def test_explicit_settings_win():
    cfg = PodocrConfig().replace(
        job__partition_size=25, engine__batch_threads=3, engine__intra_op_threads=2, job__n_workers=1
    )
    s = size_job(cfg, 100, 2)
    assert (s.partition_size, s.n_partitions, s.n_workers, s.batch_threads, s.intra_op_threads) == (
        25,
        4,
        1,
        3,
        2,
    )
    applied = s.apply(cfg)
    assert applied.job.partition_size == 25 and applied.engine.batch_threads == 3
    assert "as configured" in s.reason


def test_external_cluster_threads_are_left_to_it():
    s = size_job(PodocrConfig().replace(job__scheduler="tcp://127.0.0.1:8786"), 1000, 2)
    assert s.intra_op_threads == 0 and s.batch_threads == 1 and s.n_workers == 0
