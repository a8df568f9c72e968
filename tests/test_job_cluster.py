"""Cluster sizing and the per-worker cache key: ONNX Runtime threads never oversubscribe the cores."""

from __future__ import annotations

import pytest

from podocr.config import PodocrConfig
from podocr.job.cache import config_key
from podocr.job.cluster import plan_local, start_cluster
from podocr.job.exitcodes import ExitCode, InfrastructureError


@pytest.mark.parametrize(
    ("cores", "n_workers", "threads", "intra", "partitions", "expected"),
    [
        (2, 0, 1, 0, 10, (2, 1)),  # this machine: 2 single-threaded workers, 1 ORT thread each
        (16, 0, 1, 0, 100, (16, 1)),
        (16, 4, 1, 0, 100, (4, 4)),  # fewer, fatter workers: ORT gets the remaining cores
        (16, 0, 2, 0, 100, (8, 1)),  # 8 workers × 2 task threads = 16
        (16, 0, 1, 0, 3, (3, 5)),  # never more workers than partitions
        (16, 4, 1, 2, 100, (4, 2)),  # an explicit engine.intra_op_threads wins
        (1, 0, 1, 0, 5, (1, 1)),
    ],
)
def test_plan_local_fills_but_never_oversubscribes(
    cores: int, n_workers: int, threads: int, intra: int, partitions: int, expected: tuple[int, int]
) -> None:
    workers, ort_threads = plan_local(cores, n_workers, threads, intra, partitions)
    assert (workers, ort_threads) == expected
    if not intra and not n_workers:
        assert workers * threads * ort_threads <= cores


def test_cache_key_ignores_job_and_io_settings_but_not_models() -> None:
    cfg = PodocrConfig()
    assert config_key(cfg) == config_key(cfg.replace(job__partition_size=7, io__fetch_threads=3))
    assert config_key(cfg) != config_key(cfg.replace(models__set="v6-tiny"))
    assert config_key(cfg, 1) != config_key(cfg, 2)


def test_synchronous_has_no_cluster_and_refuses_cuda() -> None:
    handle = start_cluster(PodocrConfig().replace(job__scheduler="synchronous"), 4)
    assert handle.client is None and handle.describe()["kind"] == "synchronous"
    with pytest.raises(InfrastructureError) as err:
        start_cluster(PodocrConfig().replace(job__scheduler="synchronous", job__cuda=True), 4)
    assert err.value.exit_code == ExitCode.INFRASTRUCTURE


def test_memory_limit_setting() -> None:
    from distributed.system import MEMORY_LIMIT

    from podocr.job.cluster import memory_limit_bytes
    from podocr.job.exitcodes import InvalidInput

    assert memory_limit_bytes("auto", 4) == int(0.9 * MEMORY_LIMIT / 4)
    assert memory_limit_bytes("6GiB", 2) == 6 * 2**30
    assert memory_limit_bytes("", 2) is None and memory_limit_bytes("0", 2) is None
    with pytest.raises(InvalidInput, match="memory_limit"):
        memory_limit_bytes("lots", 2)


def test_empty_dashboard_address_turns_the_dashboard_off() -> None:
    """Dask's own "off" still served its pages on :8787; ours serves no dashboard, and not on :8787."""
    import urllib.error
    import urllib.request

    from podocr.config import PodocrConfig

    cfg = PodocrConfig.load(environ={}, overrides={"job.dashboard_address": "", "job.n_workers": 1})
    handle = start_cluster(cfg, 1)
    try:
        assert handle.dashboard_link is None
        port = handle.cluster.scheduler.http_server.port
        assert port != 8787
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5)
        assert err.value.code == 404
    finally:
        handle.close()


@pytest.mark.parametrize("profiler", [False, True])
def test_the_workers_dask_profiler_follows_the_config(profiler: bool) -> None:
    """Off by default: its sys._current_frames sampling can freeze a worker on CPython 3.11."""
    from podocr.config import PodocrConfig

    overrides = {"job.dashboard_address": "", "job.n_workers": 1, "job.worker_profiler": profiler}
    handle = start_cluster(PodocrConfig.load(environ={}, overrides=overrides), 1)
    try:
        sampling = handle.client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
        assert list(sampling.values()) == [profiler]
    finally:
        handle.close()
    if not profiler:
        assert PodocrConfig().job.worker_profiler is False


def test_joining_a_cluster_whose_workers_run_the_profiler_on_an_affected_python_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import sys

    from distributed import LocalCluster

    from podocr.config import PodocrConfig
    from podocr.job.cluster import PROFILER_DEADLOCK_PYTHONS

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        cfg = PodocrConfig.load(environ={}, overrides={"job.scheduler": lc.scheduler_address})
        with caplog.at_level("WARNING", logger="podocr.job.cluster"):
            handle = start_cluster(cfg, 1)
            handle.close()
    first, last = PROFILER_DEADLOCK_PYTHONS
    affected = first <= sys.version_info[:2] < last
    assert ("gh-106883" in caplog.text) == affected


def test_a_local_clusters_workers_load_the_jobs_models_as_they_start() -> None:
    """Nothing here asks for the models: the worker's preload loads the pipeline the job's tasks will ask for
    (same cache key), once, so the warm-up finds it loaded or in progress."""
    import time

    from podocr.job.cache import load_history

    cfg = PodocrConfig.load(environ={}, overrides={"job.dashboard_address": "", "job.n_workers": 1})
    handle = start_cluster(cfg, 1)
    try:
        deadline = time.monotonic() + 60
        loads: list[str] = []
        while not loads and time.monotonic() < deadline:
            time.sleep(0.2)
            loads = next(iter(handle.client.run(load_history).values()))
        assert loads == [config_key(cfg, handle.intra_op_threads)]
    finally:
        handle.close()


def test_the_preload_carries_the_pipeline_settings_but_never_io_credentials() -> None:
    import json

    from podocr.job.preload import preload_argv

    cfg = PodocrConfig.load(
        environ={},
        overrides={"io.aws_secret_access_key": "hunter2", "det.box_thresh": 0.45, "job.malloc_arena_max": 3},
    )
    argv = preload_argv(cfg, 2)
    assert "hunter2" not in " ".join(argv)
    sent = PodocrConfig.from_dict(json.loads(argv[argv.index("--config") + 1]))
    assert config_key(sent, 2) == config_key(cfg, 2)
    assert sent.job.malloc_arena_max == 3


def test_the_deployments_own_worker_preloads_still_run_beside_ours(tmp_path) -> None:
    import dask

    from podocr.job.preload import MODULE, worker_preloads

    cfg = PodocrConfig()
    theirs = str(tmp_path / "theirs.py")
    with dask.config.set(
        {"distributed.worker.preload": [theirs], "distributed.worker.preload-argv": ["--flag", "1"]}
    ):
        got = worker_preloads(cfg, 1)
    assert got["preload"] == [theirs, MODULE]
    assert got["preload_argv"][0] == ["--flag", "1"] and "--config" in got["preload_argv"][1]
    with dask.config.set({"distributed.worker.preload": [], "distributed.worker.preload-argv": []}):
        assert worker_preloads(cfg, 1)["preload"] == [MODULE]
