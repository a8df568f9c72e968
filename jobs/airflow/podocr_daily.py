"""Airflow DAG: run `podocr batch` once a day, then wait for the committed `_SUCCESS` before downstream work.

Copy this file into the DAGs folder of an Airflow 2.7+ or 3.x deployment whose workers have podocr installed
(`pip install podocr[gpu]`), and set the environment variables below on the workers (or edit the defaults).
Every podocr setting can also be given as `PODOCR__SECTION__KEY` (see docs/operations.md, "Configuration").

What a run does, for the day `{{ ds }}` (the start of the data interval, i.e. *yesterday* when the run fires):

  podocr_batch   `podocr batch --date {{ ds }} --input … --output …`; on a retry it adds `--resume`, so only
                 partitions without a complete part are redone. Exit codes (podocr/job/exitcodes.py): 2 = the
                 input is wrong (retrying will not help: fix the manifest), 3 = partitions failed (retry
                 resumes), 4 = infrastructure (retry later).
  wait_committed a sensor on `{output}/ocr_results/date={{ ds }}/_SUCCESS` (local path or s3:// via fsspec);
                 the contract for everything downstream: the day is complete and will not change under you.
  results_ready  an empty anchor task for downstream DAGs (ExternalTaskSensor on it, or add tasks here).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:  # Airflow 3: DAG and timetables from the task SDK, operators from the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.sensors.python import PythonSensor
    from airflow.sdk import DAG, CronDataIntervalTimetable
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.operators.empty import EmptyOperator
    from airflow.sensors.python import PythonSensor
    from airflow.timetables.interval import CronDataIntervalTimetable

AIRFLOW_3 = DAG.__module__.startswith("airflow.sdk")

INPUT = os.environ.get("PODOCR_INPUT", "s3://pod-photos")  # {input}/manifests/date=YYYY-MM-DD/manifest.*
OUTPUT = os.environ.get("PODOCR_OUTPUT", "s3://pod-results")  # {output}/ocr_results/date=YYYY-MM-DD/
SCHEDULE = os.environ.get("PODOCR_CRON", "0 2 * * *")  # 02:00 UTC: drivers' uploads for yesterday are in
RUN_TIMEOUT = timedelta(hours=float(os.environ.get("PODOCR_TIMEOUT_HOURS", "6")))
SLA = timedelta(hours=float(os.environ.get("PODOCR_SLA_HOURS", "8")))  # after the interval ends

# Passed to the job as environment: settings as PODOCR__SECTION__KEY (docs/operations.md), JSON-lines logs for
# the log shipper, and whatever the worker's own environment provides (AWS credentials via its role).
JOB_ENV = {
    "PODOCR__JOB__LOG_JSON": "true",
    **{k: v for k, v in os.environ.items() if k.startswith("PODOCR__")},
}

BATCH_COMMAND = (
    'podocr batch --date {{ ds }} --input "' + INPUT + '" --output "' + OUTPUT + '" --no-progress'
    "{% if ti.try_number > 1 %} --resume{% endif %}"
)
SUCCESS_URI = OUTPUT.rstrip("/") + "/ocr_results/date={{ ds }}/_SUCCESS"


def committed(success_uri: str, date: str) -> bool:
    """True once `_SUCCESS` exists and names this date (fsspec: local paths and s3:// alike)."""
    import json

    import fsspec

    fs, path = fsspec.core.url_to_fs(success_uri)
    if not fs.exists(path):
        return False
    return json.loads(fs.cat_file(path)).get("date") == date


default_args = {
    "owner": "podocr",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(hours=1),
}
if not AIRFLOW_3:  # SLA misses were removed in Airflow 3; there, dagrun_timeout and the timeouts below apply
    default_args["sla"] = SLA

with DAG(
    dag_id="podocr_daily",
    description="Proof-of-delivery photos → OCR → Parquet, one committed partition per day",
    schedule=CronDataIntervalTimetable(
        SCHEDULE, timezone="UTC"
    ),  # ds = the day just finished, in 2.x and 3.x
    start_date=datetime(2026, 1, 1),
    catchup=False,  # past days: `airflow dags backfill` (2.x) / `airflow backfill create` (3.x)
    max_active_runs=1,  # one day at a time on the shared GPU cluster
    dagrun_timeout=SLA,
    default_args=default_args,
    tags=["podocr", "ocr"],
) as dag:
    batch = BashOperator(
        task_id="podocr_batch",
        bash_command=BATCH_COMMAND,
        env=JOB_ENV,
        append_env=True,
        execution_timeout=RUN_TIMEOUT,
    )
    wait_committed = PythonSensor(
        task_id="wait_committed",
        python_callable=committed,
        op_kwargs={"success_uri": SUCCESS_URI, "date": "{{ ds }}"},
        mode="reschedule",  # frees the worker slot between pokes
        poke_interval=300,
        timeout=int(SLA.total_seconds()),
        retries=0,
    )
    results_ready = EmptyOperator(task_id="results_ready")

    batch >> wait_committed >> results_ready
