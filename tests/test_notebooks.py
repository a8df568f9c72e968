"""The analysts' notebooks run top to bottom on real job output, and say the numbers the job committed.

Two synthetic days go through the real `podocr batch` (synchronous scheduler, the tiny model set: this is
about the notebooks, not accuracy); the second day also has a manifest row whose photo is missing, so the
error sections have something to show. The notebooks are executed with nbclient in a fresh kernel, their
parameters injected through the environment variables their first cell reads. The job's own call of the
report (`_report.html` beside `_SUCCESS`) is checked here too, end to end.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from podocr.config import PodocrConfig
from podocr.report import REPORT_NAME

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
DATES = ("2026-11-24", "2026-11-25")
N_PHOTOS = 12
DAY1_PHOTOS = 7  # the first day is a subset of the same photos, plus one missing photo
SEED = 21


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """(output root, {date: _SUCCESS}) for two committed days made by the real job."""
    from podocr.job.runner import run_batch
    from podocr.synth import generate

    root = tmp_path_factory.mktemp("notebook-days")
    generate(str(root / "in"), N_PHOTOS, SEED, date=DATES[1], max_side=960)
    with open(root / "in" / "manifests" / f"date={DATES[1]}" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = {**rows[0], "delivery_id": "MISSING-1", "image_uri": "images/not-there.jpg"}
    _write_manifest(
        root / "in" / "manifests" / f"date={DATES[0]}" / "manifest.csv", [*rows[:DAY1_PHOTOS], missing]
    )
    cfg = PodocrConfig.load(
        path="",
        overrides={
            "job.input": str(root / "in"),
            "job.output": str(root / "out"),
            "job.scheduler": "synchronous",
            "job.partition_size": 6,
            "job.progress": False,
            "models.set": "v6-tiny",
            "engine.provider": "cpu",
        },
    )
    committed = {date: run_batch(cfg, date, echo=lambda _: None) for date in DATES}
    return root / "out", committed


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # A failing cell raises CellExecutionError with the traceback; nothing below runs on a broken notebook.
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode, marker: str) -> str:
    """All plain-text output of the (one) code cell whose source contains `marker`."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def _mime_count(nb: nbformat.NotebookNode, mime: str) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs if mime in o.get("data", {}))


@pytest.mark.parametrize("name", ["analyst_quickstart.ipynb", "trends.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])  # papermill-style parameters cell


def test_quickstart_on_a_job_day(days, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out, committed = days
    date = DATES[1]
    success = committed[date]
    nb = _execute(
        "analyst_quickstart.ipynb", tmp_path, monkeypatch, PODOCR_RESULTS=str(out), PODOCR_DATE=date
    )
    head = _outputs(nb, "con = connect(")
    assert f"{date}: run {success['run_id']}, {N_PHOTOS} photos" in head
    status = _outputs(nb, "GROUP BY status")
    for value, count in success["counts"]["status"].items():
        assert re.search(rf"\b{value}\s+{count}\b", status), (value, count, status)
    verification = _outputs(nb, "mean_address_score")
    for value, count in success["counts"]["verification"].items():
        assert re.search(rf"\b{value}\s+{count}\b", verification), (value, count, verification)
    assert _mime_count(nb, "image/png") == 1  # the confidence histograms
    assert _mime_count(nb, "image/jpeg") >= 1  # annotated photos, fetched from the day's images


def test_quickstart_shows_errors(days, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out, committed = days
    nb = _execute(
        "analyst_quickstart.ipynb", tmp_path, monkeypatch, PODOCR_RESULTS=str(out), PODOCR_DATE=DATES[0]
    )
    assert committed[DATES[0]]["counts"]["error_code"] == {"not_found": 1}
    assert re.search(r"not_found\s+1\b", _outputs(nb, "WHERE status = 'error'"))


def test_trends_over_the_days(days, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out, committed = days
    monkeypatch.delenv("PODOCR_START", raising=False)
    monkeypatch.delenv("PODOCR_END", raising=False)
    nb = _execute("trends.ipynb", tmp_path, monkeypatch, PODOCR_RESULTS=str(out))
    assert f"2 committed days: {DATES[0]} … {DATES[1]}" in _outputs(nb, "committed_days(")
    daily = _outputs(nb, "FROM results GROUP BY date")
    for date, success in committed.items():
        ok = success["counts"]["status"].get("ok", 0)
        assert re.search(rf"{date}\s+{success['rows']}\s+{ok}\b", daily), (date, daily)
    assert re.search(rf"{DATES[0]}\s+1\b", _outputs(nb, "PIVOT"))  # one not_found on the first day
    runs = _outputs(nb, "runs = pd.DataFrame")
    assert all(s["run_id"] in runs for s in committed.values())
    assert _mime_count(nb, "image/png") == 1

    # a range keeps only its days
    nb = _execute("trends.ipynb", tmp_path, monkeypatch, PODOCR_RESULTS=str(out), PODOCR_START=DATES[1])
    assert f"1 committed days: {DATES[1]} … {DATES[1]}" in _outputs(nb, "committed_days(")


def test_job_wrote_the_report_beside_success(days):
    out, committed = days
    for date, success in committed.items():
        folder = out / "ocr_results" / f"date={date}"
        page = (folder / REPORT_NAME).read_text(encoding="utf-8")
        assert success["run_id"] in page
        assert json.loads((folder / "_SUCCESS").read_text())["run_id"] == success["run_id"]
        assert page.count("data:image/jpeg;base64,") >= 1
    first = (out / "ocr_results" / f"date={DATES[0]}" / REPORT_NAME).read_text(encoding="utf-8")
    assert "not_found" in first and "MISSING-1" in first  # the error row is in the gallery
