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
    per_worker = PodocrConfig().job.cores_per_worker
    assert s.n_workers == min(max(1, cores // per_worker), s.n_partitions)
    assert s.n_workers * s.batch_threads * s.intra_op_threads <= cores
    # a worker's cores, and cores left over by too few partitions, go to batch threads, never to idle
    assert s.n_workers * s.batch_threads == s.n_workers * (cores // s.n_workers)
    assert s.n_workers * s.batch_threads > cores - s.n_workers
    if rows >= cores * PARTS_PER_WORKER * MIN_PARTITION:  # enough photos: balance over several partitions
        assert s.n_partitions >= min(PARTS_PER_WORKER * cores, rows // MAX_PARTITION)


def test_days_from_the_issue_on_two_cores():
    # one worker process reads on both cores: two batch threads, one ORT thread each
    small = size_job(PodocrConfig(), 100, 2)
    assert (small.n_workers, small.batch_threads, small.intra_op_threads) == (1, 2, 1)
    assert small.n_partitions >= PARTS_PER_WORKER
    tiny = size_job(PodocrConfig(), 5, 2)
    assert (tiny.n_partitions, tiny.n_workers, tiny.batch_threads) == (1, 1, 2)
    big = size_job(PodocrConfig(), 1_000_000, 2)
    assert big.partition_size == MAX_PARTITION and big.n_workers == 1 and big.batch_threads == 2
    # a bigger host: a worker per two cores; one worker per core where the user asks for it
    wide = size_job(PodocrConfig(), 10_000, 16)
    assert (wide.n_workers, wide.batch_threads, wide.intra_op_threads) == (8, 2, 1)
    per_core = size_job(PodocrConfig().replace(job__cores_per_worker=1), 100, 2)
    assert (per_core.n_workers, per_core.batch_threads) == (2, 1)


def test_the_sized_worker_count_is_what_the_local_cluster_starts():
    from podocr.job.cluster import plan_local

    cfg = size_job(PodocrConfig(), 1000, 4).apply(PodocrConfig())
    assert cfg.job.n_workers == 2
    workers, intra = plan_local(
        4, cfg.job.n_workers, cfg.job.threads_per_worker, cfg.engine.intra_op_threads, 16
    )
    assert (workers, intra) == (2, 1)
    external = PodocrConfig().replace(job__scheduler="tcp://127.0.0.1:8786")
    assert size_job(external, 1000, 4).apply(external).job.n_workers == 0  # sized by that cluster


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
