"""`podocr eval` end to end on photos from the synthetic generator: the GT scores perfectly, the pipeline sanely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from podocr.cli import main
from podocr.eval import score
from podocr.synth import generate, load_labels

# Seed 10's first six photos cover four carriers, a box with no label, a label turned ~90° and planted
# manifest mismatches; the truth counts below are read from labels.jsonl, not assumed.
SEED, N = 10, 6
TOP_KEYS = {
    "line_recall",
    "line_exact",
    "line_cer",
    "line_recall_substring",
    "word_precision",
    "word_recall",
    "word_f1",
    "tracking_accuracy",
    "zip_accuracy",
    "street_accuracy",
    "negatives_with_text",
    "images_per_s",
    "tracking_extracted_accuracy",
    "field_accuracy",
    "verification_precision",
    "verification_recall",
    "verification_f1",
    "verification_confusion",
    "by",
    "photos",
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    generate(str(out), N, SEED, max_side=1280)
    return out


def _eval(*args: str) -> dict[str, Any]:
    out = Path(args[args.index("--json") + 1])
    result = CliRunner().invoke(main, ["eval", *args])
    assert result.exit_code == 0, result.output
    assert "overall" in result.output
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_ground_truth_as_results_is_perfect(bench: Path, tmp_path: Path) -> None:
    labels = load_labels(str(bench))
    results = tmp_path / "gt.jsonl"
    rows = [{"id": r["id"], "lines": r["lines"], "fields": r["fields"]} for r in labels]
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = _eval("--data", str(bench), "--results", str(results), "--json", str(tmp_path / "gt.json"))
    assert set(report) >= TOP_KEYS
    assert report["n_images"] == N and report["n_errors"] == 0 and report["n_negatives"] == 1
    assert report["line_recall"] == 1.0 and report["line_exact"] == 1.0 and report["line_cer"] == 0.0
    assert report["word_precision"] == 1.0 and report["word_recall"] == 1.0
    assert [report[k] for k in ("tracking_accuracy", "zip_accuracy", "street_accuracy")] == [1.0] * 3
    assert report["negatives_with_text"] == 0.0
    assert report["tracking_extracted_accuracy"] == 1.0 and set(report["field_accuracy"].values()) == {1.0}
    assert report["images_per_s"] is None and report["source"] == "results"
    assert set(report["by"]["carrier"]) == {"ups", "fedex", "usps", "amazon", "none"}
    rotations = {
        score.rotation_bucket(r["condition"]["rotation_deg"], r["carrier"] != "none") for r in labels
    }
    assert set(report["by"]["rotation"]) == rotations and len(rotations) >= 2


def test_pipeline_reads_the_photos(bench: Path, tmp_path: Path) -> None:
    report = _eval("--data", str(bench), "--json", str(tmp_path / "run.json"), "--set", "v6-tiny")
    assert set(report) >= TOP_KEYS
    assert report["source"] == "pipeline" and report["model_set"] == "v6-tiny"
    assert report["n_images"] == N and report["n_errors"] == 0
    assert 0.3 < report["line_recall"] <= 1.0
    assert 0.0 <= report["line_cer"] < 0.7
    assert report["word_f1"] > 0.3
    assert report["images_per_s"] > 0 and report["ocr_extract_s"] > 0
    # extraction ran on every photo, and every photo has a manifest row: all six are in the confusion table
    assert report["n_verified"] == N
    labels = load_labels(str(bench))
    no_label = [i for i, r in enumerate(labels) if r["carrier"] == "none"]
    planted = sum(1 for r in labels if r["carrier"] != "none" and r["expected_matches"] is False)
    table = report["verification_confusion"]
    assert planted >= 1 and len(no_label) >= 1  # the seed must keep covering both classes
    assert sum(table["mismatch"].values()) == planted and sum(table["no-label"].values()) == len(no_label)
    assert report["tracking_extracted_accuracy"] is not None
    assert len(report["photos"]) == N
    assert all(report["photos"][i]["buckets"]["photo"] == "hard-negative" for i in no_label)


def test_limit_and_missing_folder(bench: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    report = _eval("--data", str(bench), "--results", str(empty), "--limit=2", "--json", str(tmp_path / "x"))
    assert report["n_images"] == 2 and report["n_errors"] == 2 and report["line_recall"] == 0.0
    bad = CliRunner().invoke(main, ["eval", "--data", str(tmp_path)])
    assert bad.exit_code != 0 and "labels.jsonl" in bad.output
