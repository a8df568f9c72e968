"""The scheduling examples in jobs/ stay runnable: every podocr option they use exists, files parse, the cron
wrapper honours the exit codes and its lock, and the Airflow DAG loads in real Airflow when one is at hand.

Real Airflow: `apache-airflow` does not go into the project's virtualenv (hundreds of pinned dependencies), so
the DagBag test runs in a separate one — `$PODOCR_AIRFLOW_PYTHON`, else `.venv-airflow/bin/python` — created
by `python3 -m venv .venv-airflow && .venv-airflow/bin/pip install apache-airflow` (about a minute), and is
skipped when neither exists. Without it the DAG is still checked: parsed with `ast`, its command templates
rendered with Jinja and validated by click against `podocr batch`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import jinja2
import pytest
import yaml

from podocr.cli import main
from podocr.config import PodocrConfig

REPO = Path(__file__).resolve().parents[1]
JOBS = REPO / "jobs"
DAG_FILE = JOBS / "airflow" / "podocr_daily.py"
WRAPPER = JOBS / "cron" / "podocr-daily.sh"
DAY = "2026-11-26"


def batch_params(argv: list[str]) -> dict[str, Any]:
    """Parse `podocr batch ARGS` exactly as the CLI would, without running it; unknown options raise."""
    assert argv[:2] == ["podocr", "batch"], argv
    command = main.commands["batch"]
    assert isinstance(command, click.Command)
    with command.make_context("batch", argv[2:]) as ctx:
        return dict(ctx.params)


# ---- Airflow ------------------------------------------------------------------------------------------------
def _dag_module() -> ast.Module:
    return ast.parse(DAG_FILE.read_text(), filename=str(DAG_FILE))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
    ]


def _kwargs(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _dag_constants(environ: dict[str, str]) -> dict[str, Any]:
    """The DAG's module-level string settings, evaluated from its own source with `environ` as os.environ."""
    wanted = {"INPUT", "OUTPUT", "SCHEDULE", "BATCH_COMMAND", "SUCCESS_URI"}
    nodes: list[ast.stmt] = [
        n
        for n in _dag_module().body
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in wanted for t in n.targets)
    ]
    namespace: dict[str, Any] = {"os": SimpleNamespace(environ=environ)}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(DAG_FILE), "exec"), namespace)
    return {k: namespace[k] for k in wanted}


def _committed_function() -> Any:
    """The sensor's callable, compiled from the DAG file alone (it imports only json and fsspec)."""
    (fn,) = [n for n in _dag_module().body if isinstance(n, ast.FunctionDef) and n.name == "committed"]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(DAG_FILE), "exec"), namespace)
    return namespace["committed"]


def test_dag_schedule_retries_and_timeouts():
    tree = _dag_module()
    (dag,) = _calls(tree, "DAG")
    kw = _kwargs(dag)
    assert ast.literal_eval(kw["dag_id"]) == "podocr_daily"
    assert (
        isinstance(kw["schedule"], ast.Call)
        and ast.unparse(kw["schedule"].func) == "CronDataIntervalTimetable"
    )
    assert ast.literal_eval(kw["max_active_runs"]) == 1
    assert ast.literal_eval(kw["catchup"]) is False
    assert "dagrun_timeout" in kw
    (defaults,) = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "default_args" for t in n.targets)
    ]
    assert isinstance(defaults, ast.Dict)
    args = {
        ast.literal_eval(k): v for k, v in zip(defaults.keys, defaults.values, strict=True) if k is not None
    }
    assert ast.literal_eval(args["retries"]) >= 1
    assert ast.unparse(args["retry_delay"]).startswith("timedelta(")
    (bash,) = _calls(tree, "BashOperator")
    assert "execution_timeout" in _kwargs(bash)
    assert ast.unparse(_kwargs(bash)["bash_command"]) == "BATCH_COMMAND"
    (sensor,) = _calls(tree, "PythonSensor")
    skw = _kwargs(sensor)
    assert ast.unparse(skw["python_callable"]) == "committed"
    assert ast.literal_eval(skw["mode"]) == "reschedule"
    # both Airflow generations' import paths are there
    source = DAG_FILE.read_text()
    assert "airflow.providers.standard.operators.bash" in source and "airflow.operators.bash" in source


@pytest.mark.parametrize("try_number", [1, 2])
def test_dag_command_is_a_valid_podocr_batch(try_number: int):
    consts = _dag_constants({"PODOCR_INPUT": "s3://photos/in", "PODOCR_OUTPUT": "/data/out"})
    rendered = jinja2.Template(consts["BATCH_COMMAND"]).render(
        ds=DAY, ti=SimpleNamespace(try_number=try_number)
    )
    params = batch_params(shlex.split(rendered))
    assert params["date"] == DAY
    assert params["input_uri"] == "s3://photos/in" and params["output_uri"] == "/data/out"
    assert params["resume"] is (try_number > 1)  # retries only redo unfinished partitions
    success = jinja2.Template(consts["SUCCESS_URI"]).render(ds=DAY)
    assert success == f"/data/out/ocr_results/date={DAY}/_SUCCESS"


def test_dag_sensor_waits_for_this_days_success(tmp_path: Path):
    committed = _committed_function()
    marker = tmp_path / "ocr_results" / f"date={DAY}" / "_SUCCESS"
    assert committed(str(marker), DAY) is False
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"run_id": "r", "date": "2026-11-25"}))
    assert committed(str(marker), DAY) is False  # a marker for another day (copied folder) is not this day
    marker.write_text(json.dumps({"run_id": "r", "date": DAY}))
    assert committed(str(marker), DAY) is True


def _airflow_python() -> str | None:
    candidates = [os.environ.get("PODOCR_AIRFLOW_PYTHON", ""), str(REPO / ".venv-airflow" / "bin" / "python")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.skipif(_airflow_python() is None, reason="no Airflow virtualenv (see module docstring)")
def test_dag_loads_in_real_airflow(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import json, types
        from datetime import datetime, timezone
        try:
            from airflow.dag_processing.dagbag import DagBag   # Airflow 3
        except ImportError:
            from airflow.models.dagbag import DagBag           # Airflow 2
        bag = DagBag(dag_folder={str(DAG_FILE.parent)!r}, safe_mode=False)
        dag = bag.dags.get("podocr_daily")
        out = {{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}}}
        if dag is not None:
            batch = dag.get_task("podocr_batch")
            ti = types.SimpleNamespace(try_number=2)
            # the run that fires at 2026-11-26 02:00 UTC processes the day before
            after = datetime(2026, 11, 26, 2, 0, 1, tzinfo=timezone.utc)
            timetable = dag.timetable
            if not hasattr(timetable, "infer_manual_data_interval"):  # Airflow 3: the SDK's definition
                from airflow.serialization.encoders import coerce_to_core_timetable
                timetable = coerce_to_core_timetable(timetable)
            interval = timetable.infer_manual_data_interval(run_after=after)
            out.update(
                tasks=sorted(t.task_id for t in dag.tasks),
                downstream=sorted(batch.downstream_task_ids),
                retries=batch.retries,
                timeout_s=batch.execution_timeout.total_seconds(),
                command=batch.render_template(batch.bash_command, {{"ds": "{DAY}", "ti": ti}}),
                interval_start=interval.start.strftime("%Y-%m-%d"),
            )
        print(json.dumps(out))
        """
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "PODOCR_INPUT": "s3://photos/in",
        "PODOCR_OUTPUT": "s3://results",
    }
    proc = subprocess.run(
        [str(_airflow_python()), "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == {}
    assert out["tasks"] == ["podocr_batch", "results_ready", "wait_committed"]
    assert out["downstream"] == ["wait_committed"]
    assert out["retries"] >= 1 and out["timeout_s"] > 0
    assert out["interval_start"] == "2026-11-25"
    params = batch_params(shlex.split(out["command"]))
    assert params["date"] == DAY and params["resume"] is True and params["output_uri"] == "s3://results"


# ---- cron -----------------------------------------------------------------------------------------------------
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field_ok(field: str, lo: int, hi: int) -> bool:
    for part in field.split(","):
        m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not m:
            return False
        start, end, step = m.group(2), m.group(3), m.group(4)
        if step is not None and int(step) < 1:
            return False
        if start is not None and not lo <= int(start) <= hi:
            return False
        if end is not None and not int(start or lo) <= int(end) <= hi:
            return False
    return True


def test_cron_file_lines_are_valid():
    entries = []
    for raw in (JOBS / "cron" / "podocr.cron").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            continue
        entries.append(line.split(None, 6))
    assert len(entries) == 1
    fields = entries[0]
    assert len(fields) == 7  # 5 time fields, user, command (system crontab format)
    for value, (lo, hi) in zip(fields[:5], _CRON_RANGES, strict=True):
        assert _cron_field_ok(value, lo, hi), value
    assert not _cron_field_ok("61", 0, 59) and not _cron_field_ok("*/0", 0, 59)  # the checker can fail
    command = shlex.split(fields[6])
    assert Path(command[0]).name == WRAPPER.name and WRAPPER.is_file()
    assert os.access(WRAPPER, os.X_OK)


def _run_wrapper(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PODOCR_VENV": str(Path(sys.executable).parent.parent),
        "PODOCR_ENV_FILE": str(tmp_path / "no-env-file"),
        "PODOCR_LOCK": str(tmp_path / "daily.lock"),
        "PODOCR_RETRY_DELAY_S": "0",
    }
    return subprocess.run(
        ["bash", str(WRAPPER), *args], capture_output=True, text=True, env={**base, **env}, timeout=120
    )


def test_cron_wrapper_syntax_and_bad_date(tmp_path: Path):
    subprocess.run(["bash", "-n", str(WRAPPER)], check=True)
    proc = _run_wrapper(tmp_path, "26/11/2026")
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_cron_wrapper_does_not_retry_invalid_input(tmp_path: Path):
    """Exit 2 (no manifest for the day) is returned at once: one attempt, never `--resume`."""
    proc = _run_wrapper(tmp_path, DAY, PODOCR_INPUT=str(tmp_path / "in"), PODOCR_OUTPUT=str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("attempt ") == 1 and "not retrying" in proc.stderr
    assert "no manifest for 2026-11-26" in proc.stderr


def test_cron_wrapper_holds_a_lock(tmp_path: Path):
    lock = tmp_path / "daily.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        for _ in range(50):  # until the holder has the lock
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode != 0:
                break
            subprocess.run(["sleep", "0.1"])
        proc = _run_wrapper(tmp_path, DAY, PODOCR_INPUT=str(tmp_path / "in"))
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 75 and "another run holds" in proc.stderr
    assert "attempt" not in proc.stderr


# ---- Kubernetes ---------------------------------------------------------------------------------------------
def _k8s_docs() -> dict[str, list[dict[str, Any]]]:
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
        for p in sorted((JOBS / "k8s").glob("*.yaml"))
    }


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind == "Deployment":
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "DaskCluster":
        return [spec["scheduler"]["spec"], spec["worker"]["spec"]]
    return []


def test_k8s_manifests_parse_and_agree():
    docs = _k8s_docs()
    kinds = sorted(d["kind"] for ds in docs.values() for d in ds)
    assert kinds == ["ConfigMap", "CronJob", "DaskCluster", "Deployment", "Deployment", "Service"]
    images = {
        c["image"]
        for ds in docs.values()
        for d in ds
        for spec in _pod_specs(d)
        for c in spec.get("initContainers", []) + spec["containers"]
    }
    assert (
        len(images) == 1
    )  # one image everywhere: Dask needs matching versions on client, scheduler, workers
    (service,) = [d for d in docs["scheduler.yaml"] if d["kind"] == "Service"]
    address = f"tcp://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    (workers,) = docs["workers-gpu.yaml"]
    (worker,) = workers["spec"]["template"]["spec"]["containers"]
    assert worker["command"][:3] == ["dask", "worker", address]
    for spec in (workers["spec"]["template"]["spec"], docs["daskcluster.yaml"][0]["spec"]["worker"]["spec"]):
        (c,) = spec["containers"]
        argv = c.get("command") or c.get("args")
        assert argv[argv.index("--nworkers") + 1] == "1" and argv[argv.index("--nthreads") + 1] == "1"
        assert c["resources"]["requests"]["nvidia.com/gpu"] == 1 == c["resources"]["limits"]["nvidia.com/gpu"]


def test_k8s_batch_command_and_config_are_valid():
    docs = _k8s_docs()
    (cron,) = docs["batch-cronjob.yaml"]
    assert _cron_field_ok(cron["spec"]["schedule"].split()[1], 0, 23)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    script = container["args"][0]
    assert script.startswith("exec podocr batch")
    argv = shlex.split(script.replace('"$(date -u -d yesterday +%F)"', DAY))[1:]
    params = batch_params(argv)
    assert params["date"] == DAY and params["scheduler"] == "tcp://podocr-scheduler:8786"
    rule = cron["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2]
    # every PODOCR__SECTION__KEY in the ConfigMap is a real setting with a valid value
    (cm,) = docs["configmap.yaml"]
    settings = {k: str(v) for k, v in cm["data"].items() if k.startswith("PODOCR__")}
    cfg = PodocrConfig.load(path="", environ=settings)
    assert cfg.engine.provider == "cuda" and cfg.job.log_json is True
    assert cfg.job.output == settings["PODOCR__JOB__OUTPUT"]


@pytest.mark.parametrize("path", sorted((JOBS / "config").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_load_and_change_something(path: Path):
    """Every shipped config file parses with no unknown keys (load raises on those) and differs from the
    defaults; the speed-first one reads label crops with the v6-tiny detector."""
    cfg = PodocrConfig.load(path, environ={})
    assert cfg.to_dict() != PodocrConfig().to_dict()
    if path.name == "cpu-speed.toml":
        assert cfg.det.set == "v6-tiny" and cfg.models.set == PodocrConfig().models.set
        assert cfg.det.deblur_max_lines == 0
