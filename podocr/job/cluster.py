"""Which Dask cluster the job runs on, and how it is sized so ONNX Runtime does not oversubscribe the cores.

* default: a LocalCluster of processes; n_workers × threads_per_worker ≤ cores, and each worker's ORT sessions
  get cores // (n_workers × threads_per_worker) intra-op threads; each worker has a memory limit
  (`job.memory_limit`) past which its nanny restarts it, so one leaking or huge photo costs a worker restart
  and a retried partition, not the host;
* `--scheduler tcp://host:port`: an existing cluster (we never close it);
* `--cuda`: dask_cuda.LocalCUDACluster, one worker per visible GPU;
* `--scheduler synchronous`: no Dask at all — the same partition function in this process (baseline, debugging).

Failures to get a cluster are `InfrastructureError` (exit 4): nothing about the input is wrong.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from podocr.config import PodocrConfig
from podocr.job.exitcodes import InfrastructureError, InvalidInput

log = logging.getLogger(__name__)
SYNCHRONOUS = "synchronous"


@dataclass
class ClusterHandle:
    kind: str  # local | cuda | external | synchronous
    n_workers: int
    threads_per_worker: int
    intra_op_threads: int
    client: Any = None  # distributed.Client, None when synchronous
    cluster: Any = None  # the cluster we started (closed by us), None for external/synchronous
    dashboard_link: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "n_workers": self.n_workers,
            "threads_per_worker": self.threads_per_worker,
            "intra_op_threads": self.intra_op_threads,
            "host_cores": usable_cores(),
        }
        if self.client is not None:
            out["scheduler"] = self.client.scheduler.address
        return {**out, **self.extra}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def plan_local(
    cores: int, n_workers: int, threads_per_worker: int, intra: int, n_partitions: int
) -> tuple[int, int]:
    """(workers, intra-op threads): fill the cores, but never start more workers than there are partitions."""
    threads = max(1, threads_per_worker)
    workers = n_workers or max(1, cores // threads)
    workers = max(1, min(workers, n_partitions))
    if workers * threads > cores:
        log.warning("%d workers × %d threads exceeds %d cores; expect contention", workers, threads, cores)
    return workers, intra or max(1, cores // (workers * threads))


def memory_limit_bytes(setting: str, workers: int) -> int | None:
    """Per-worker memory limit in bytes from `job.memory_limit`; None = no limit.

    "auto" is 90 % of the memory this process may use (the cgroup limit in a container, else physical RAM)
    shared by the workers: the rest is left for the driver and the OS.
    """
    text = setting.strip().lower()
    if text in ("", "0", "none"):
        return None
    if text == "auto":
        from distributed.system import MEMORY_LIMIT

        return int(0.9 * MEMORY_LIMIT / max(1, workers))
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(setting))
    except ValueError as exc:
        raise InvalidInput(
            f"job.memory_limit = {setting!r} is not a size (e.g. '6GiB'), 'auto' or '0'"
        ) from exc


def dashboard_kwargs(address: str) -> dict[str, Any]:
    """LocalCluster keywords for `job.dashboard_address`; "" turns the dashboard off.

    Dask's own "off" (`dashboard_address=None`) still serves its HTTP routes on :8787, which collides with any
    other cluster on the host: off here means no dashboard and those routes on a free loopback port.
    """
    if address:
        return {"dashboard_address": address}
    return {
        "dashboard_address": None,
        "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    }


PROFILER_DEADLOCK_PYTHONS = ((3, 11), (3, 12))
"""[first, last) CPython versions with gh-106883 (`sys._current_frames` deadlocking against a thread starting or
ending): 3.11 has no fix; from 3.12 the GC runs only between bytecodes, where it cannot happen."""


@contextmanager
def worker_settings(cfg: PodocrConfig) -> Iterator[None]:
    """Dask settings that the workers of a cluster started inside this block take with them (each nanny hands
    its worker the Dask config of the moment it is made): `job.worker_profiler`."""
    import dask

    with dask.config.set({"distributed.worker.profile.enabled": bool(cfg.job.worker_profiler)}):
        yield


def _profiler_deadlock_risk(dask_worker: Any) -> bool:
    """On a worker: the Dask profiler is on and this CPython has gh-106883 (3.11)."""
    import dask

    first, last = PROFILER_DEADLOCK_PYTHONS
    affected = first <= sys.version_info[:2] < last
    return affected and bool(dask.config.get("distributed.worker.profile.enabled"))


def start_cluster(cfg: PodocrConfig, n_partitions: int) -> ClusterHandle:
    job, engine = cfg.job, cfg.engine
    if job.scheduler == SYNCHRONOUS:
        if job.cuda:
            raise InfrastructureError("--cuda needs a Dask cluster; drop --scheduler synchronous")
        return ClusterHandle(SYNCHRONOUS, 1, 1, engine.intra_op_threads or usable_cores())
    if job.scheduler:
        return _connect(job.scheduler, engine.intra_op_threads, job.connect_timeout_s)
    if job.cuda:
        return _start_cuda(cfg)
    return _start_local(cfg, n_partitions)


def _client(cluster_or_address: Any, timeout_s: float = 20.0) -> Any:
    from distributed import Client

    return Client(cluster_or_address, timeout=f"{timeout_s}s", set_as_default=False)


def _start_local(cfg: PodocrConfig, n_partitions: int) -> ClusterHandle:
    from distributed import LocalCluster

    from podocr.job import preload

    job = cfg.job
    cores = usable_cores()
    workers, intra = plan_local(
        cores, job.n_workers, job.threads_per_worker, cfg.engine.intra_op_threads, n_partitions
    )
    limit = memory_limit_bytes(job.memory_limit, workers)
    try:
        with worker_settings(cfg):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=max(1, job.threads_per_worker),
                processes=True,
                memory_limit=limit or 0,
                silence_logs=logging.ERROR,
                # each worker starts loading the models as it starts (job/preload.py)
                **preload.worker_preloads(cfg, intra),
                **dashboard_kwargs(job.dashboard_address),
            )
        client = _client(cluster)
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise InfrastructureError(f"could not start a local Dask cluster: {exc}") from exc
    return ClusterHandle(
        "local",
        workers,
        max(1, job.threads_per_worker),
        intra,
        client=client,
        cluster=cluster,
        dashboard_link=_dashboard(client, job.dashboard_address),
        extra={"memory_limit_bytes": limit},
    )


def _start_cuda(cfg: PodocrConfig) -> ClusterHandle:
    try:
        from dask_cuda import LocalCUDACluster
        from dask_cuda.utils import get_n_gpus
    except ImportError as exc:
        raise InfrastructureError(
            f"--cuda needs dask-cuda and onnxruntime-gpu (pip install 'podocr[gpu]'): {exc}"
        ) from exc
    try:
        gpus = get_n_gpus()
    except Exception as exc:  # NVML missing or no driver: same answer for the operator
        raise InfrastructureError(f"--cuda: no NVIDIA GPU is visible ({type(exc).__name__}: {exc})") from exc
    if gpus < 1:
        raise InfrastructureError(
            "--cuda: no NVIDIA GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)"
        )
    if cfg.engine.provider == "cpu":
        cfg.engine.provider = "cuda"
    cfg.engine.device_id = 0  # each dask-cuda worker sees only its own GPU, as device 0
    threads = max(1, cfg.job.threads_per_worker)
    intra = cfg.engine.intra_op_threads or max(1, usable_cores() // (gpus * threads))
    limit = memory_limit_bytes(cfg.job.memory_limit, gpus)
    try:
        with worker_settings(cfg):
            cluster = LocalCUDACluster(
                threads_per_worker=threads,
                memory_limit=limit or 0,
                silence_logs=logging.ERROR,
                **dashboard_kwargs(cfg.job.dashboard_address),
            )
        client = _client(cluster)
    except Exception as exc:
        raise InfrastructureError(f"could not start dask_cuda.LocalCUDACluster: {exc}") from exc
    return ClusterHandle(
        "cuda",
        gpus,
        threads,
        intra,
        client=client,
        cluster=cluster,
        dashboard_link=_dashboard(client, cfg.job.dashboard_address),
        extra={"gpus": gpus, "memory_limit_bytes": limit},
    )


def _connect(address: str, intra: int, timeout_s: float) -> ClusterHandle:
    try:
        client = _client(address, timeout_s)
        workers = client.scheduler_info(n_workers=-1)["workers"]
    except (OSError, TimeoutError) as exc:
        raise InfrastructureError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    if not workers:
        client.close()
        raise InfrastructureError(f"the Dask scheduler at {address} has no workers")
    per_host: dict[str, int] = {}
    for w in workers.values():
        per_host[w["host"]] = per_host.get(w["host"], 0) + int(w["nthreads"])
    if not intra:
        cores = client.run(usable_cores)  # {worker address: cores of its host}
        hosts = {w["host"]: cores[addr] for addr, w in workers.items() if addr in cores}
        intra = max(1, min(hosts[h] // per_host[h] for h in hosts))
    nthreads = {int(w["nthreads"]) for w in workers.values()}
    at_risk = [w for w, risk in client.run(_profiler_deadlock_risk, on_error="ignore").items() if risk]
    if at_risk:
        log.warning(
            "%d worker(s) of %s run Dask's profiler on a CPython with gh-106883: a worker may freeze until the "
            "scheduler's worker-ttl restarts it; start them with DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",
            len(at_risk),
            address,
        )
    return ClusterHandle(
        "external",
        len(workers),
        max(nthreads),
        intra,
        client=client,
        dashboard_link=client.dashboard_link,
        extra={"hosts": len(per_host)},
    )


def _dashboard(client: Any, address: str) -> str | None:
    if not address:
        return None
    try:
        import bokeh  # noqa: F401  (the dashboard needs it; without it Dask serves nothing there)
    except ImportError:
        return None
    return str(client.dashboard_link)
