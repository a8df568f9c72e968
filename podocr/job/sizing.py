"""How a day is cut and spread so every core stays busy, whatever the day's size.

Two ways to waste cores: a small day becomes one partition that one worker reads while the others idle, and a
big day ends with one worker finishing the last partition alone. So the partition size follows the row count:
enough partitions per worker that the last ones are short (`PARTS_PER_WORKER`), within bounds that keep a
partition's fixed cost small (`MIN_PARTITION`) and its memory bounded (`MAX_PARTITION`).

A local cluster starts one worker process per `job.cores_per_worker` cores, not one per core: photos read on
the threads of one process share one copy of the models and one partition, so a partition has no tail where one
core waits for the other, and the host runs fewer copies of the models and of Python. Inside a worker, cores go
to batch threads with single-threaded model calls rather than to ONNX Runtime's intra-op threads: the label
crops and text lines are small tensors that split poorly across threads, while k photos read at once on k
threads keep k cores busy (ocr/pipeline.py). Workers that start when partitions are fewer than the cores allow
take the spare cores as batch threads too.

Only what the user left at "auto" (0) is sized; an explicit partition size, worker count, thread count or
batch-thread count wins. The choice is recorded in the run's summary with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from podocr.config import PodocrConfig

PARTS_PER_WORKER = (
    4  # partitions per worker: the last partition then holds at most a quarter of a worker's share
)
MIN_PARTITION = 8  # below this, per-task costs (fetch start, Parquet part, scheduling) show
MAX_PARTITION = 256  # a 256-photo partition stays within a worker's memory budget (docs/operations.md)


@dataclass(frozen=True)
class Sizing:
    """The resolved sizes for one run, and why."""

    partition_size: int
    n_partitions: int
    n_workers: int  # what a local cluster will start (0: an external or GPU cluster, sized by itself)
    batch_threads: int
    intra_op_threads: int  # 0: left to the cluster (external or GPU)
    reason: str

    def apply(self, cfg: PodocrConfig) -> PodocrConfig:
        """A copy of `cfg` with the sized values set (the caller's explicit ones were kept when sizing)."""
        out = PodocrConfig.from_dict(cfg.to_dict())
        out.job.partition_size = self.partition_size
        if self.n_workers > 0:  # a local cluster: start the workers sized here (job/cluster.py plan_local)
            out.job.n_workers = self.n_workers
        out.engine.batch_threads = self.batch_threads
        out.engine.intra_op_threads = self.intra_op_threads
        return out

    def describe(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def size_job(cfg: PodocrConfig, rows: int, cores: int) -> Sizing:
    """Partition size, workers and threads for `rows` photos on `cores` local cores (auto fields only)."""
    job, engine = cfg.job, cfg.engine
    threads = max(1, job.threads_per_worker)
    per_worker = max(threads, job.cores_per_worker)
    slots = max(1, job.n_workers or cores // per_worker)  # workers the cores allow
    why: list[str] = []
    if job.partition_size > 0:
        size = job.partition_size
        why.append("partition size as configured")
    else:
        size = math.ceil(max(1, rows) / (slots * PARTS_PER_WORKER))
        size = max(MIN_PARTITION, min(MAX_PARTITION, size))
        why.append(f"≈{PARTS_PER_WORKER} partitions per worker, {MIN_PARTITION}–{MAX_PARTITION} photos each")
    parts = max(1, math.ceil(rows / size))
    if job.cuda or (job.scheduler and job.scheduler != "synchronous"):
        # threads on a GPU worker or someone else's cluster are that cluster's business (job/cluster.py)
        return Sizing(size, parts, 0, engine.batch_threads or 1, engine.intra_op_threads, "; ".join(why))
    if job.scheduler == "synchronous":
        slots = 1
    workers = min(slots, parts)
    spare = max(1, cores // (workers * threads))  # cores each task may use
    if engine.batch_threads > 0:
        batch = engine.batch_threads
        why.append("batch threads as configured")
    else:
        batch = spare
        if batch > 1 and workers < slots:
            why.append(f"{parts} partition(s) for {slots} worker slot(s): spare cores become batch threads")
        elif batch > 1:
            why.append(f"{workers} worker(s) for {cores} core(s): each worker's cores become batch threads")
    intra = engine.intra_op_threads if engine.intra_op_threads > 0 else max(1, spare // batch)
    return Sizing(size, parts, workers, batch, intra, "; ".join(why))
