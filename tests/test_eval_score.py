"""Scoring a hand-made labelled folder against hand-made results files (JSONL and Parquet), end to end."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from podocr.eval import score
from podocr.eval.dataset import DatasetError, Sample, load_dataset
from podocr.eval.evaluate import evaluate, format_table
from podocr.eval.results import ResultsError, load_results
from podocr.io import sink

UPS = "1Z999AA10123456784"
FEDEX = "794612345678"


def _photo(pid: str, carrier: str, lines: list[str], fields: dict[str, str], **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": pid,
        "file": f"images/{pid}.jpg",
        "width": 1600,
        "height": 1200,
        "carrier": carrier,
        "condition": extra.pop("condition", {}),
        "lines": [{"text": t, "poly": [[0, 0], [1, 0], [1, 1], [0, 1]], "role": "other"} for t in lines],
        "fields": fields,
        "label_poly": [[0, 0], [1, 0], [1, 1], [0, 1]] if lines else None,
    }
    rec.update(extra)
    return rec


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Four photos: a UPS label (match), a FedEx label (mismatch), a hard negative, a sideways USPS label."""
    photos = [
        _photo(
            "a",
            "ups",
            ["JOHN SMITH", "123 MAIN ST", "BROOKLYN NY 11272", "1Z 999 AA1 01 2345 6784"],
            {"tracking_number": UPS, "recipient_name": "John Smith", "street": "123 Main St"}
            | {"city": "Brooklyn", "state": "NY", "zip": "11272"},
            condition={"rotation_deg": 3.0, "blur": "none", "label_area_frac": 0.2},
            expected_matches=True,
        ),
        _photo(
            "b",
            "fedex",
            ["MARY JONES", "9 ELM AVE", "AUSTIN TX 78701", "7946 1234 5678"],
            {"tracking_number": FEDEX, "recipient_name": "Mary Jones", "street": "9 Elm Ave"}
            | {"city": "Austin", "state": "TX", "zip": "78701"},
            condition={"rotation_deg": 181.0, "blur": "severe", "label_area_frac": 0.1},
            expected_matches=False,
        ),
        _photo(
            "c",
            "none",
            [],
            {},
            condition={"rotation_deg": 0.0, "blur": "none", "hard_negative": True},
            expected_matches=False,
            distractor_lines=[{"text": "FRAGILE", "poly": []}, {"text": "THIS SIDE UP", "poly": []}],
        ),
        _photo(
            "d",
            "usps",
            ["ANN LEE", "5 OAK RD", "DENVER CO 80202"],
            {
                "recipient_name": "Ann Lee",
                "street": "5 Oak Rd",
                "city": "Denver",
                "state": "CO",
                "zip": "80202",
            },
            condition={"rotation_deg": -91.0, "blur_sigma": 1.5, "label_area_frac": 0.5},
            expected_matches=True,
        ),
    ]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(p) + "\n" for p in photos))
    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["delivery_id", "image_uri", "expected_name", "expected_zip", "expected_tracking"])
        for p in photos:
            w.writerow([p["id"], p["file"], "X", "00000", ""])
    return tmp_path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dataset_reads_negatives_and_manifest(folder: Path) -> None:
    samples = load_dataset(folder)
    assert [s.id for s in samples] == ["a", "b", "c", "d"]
    assert [s.has_label for s in samples] == [True, True, False, True]
    assert samples[0].image == folder / "images" / "a.jpg"
    assert samples[2].distractors == ["FRAGILE", "THIS SIDE UP"] and samples[2].lines == []
    assert samples[0].expected is not None and samples[0].expected["expected_zip"] == "00000"
    assert "expected_tracking" not in samples[0].expected  # blanks dropped
    assert [s.id for s in load_dataset(folder, limit=2)] == ["a", "b"]


def test_dataset_tolerates_minimal_records(tmp_path: Path) -> None:
    (tmp_path / "labels.jsonl").write_text('{"id": 7, "lines": ["HELLO", {"text": "WORLD"}]}\n\n')
    (s,) = load_dataset(tmp_path)
    assert s.id == "7" and s.lines == ["HELLO", "WORLD"] and s.carrier == "unknown" and s.has_label
    assert s.image == tmp_path / "images" / "7.jpg" and s.expected is None
    assert score.buckets(s) == {
        "carrier": "unknown",
        "rotation": "unknown",
        "blur": "unknown",
        "label_size": "unknown",
        "photo": "label",
        "legibility": "legible",
        "layout": "standard",
        "kind": "as-expected",
    }


def test_dataset_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path)
    (tmp_path / "labels.jsonl").write_text('{"file": "x.jpg"}\n')
    with pytest.raises(DatasetError, match=":1: a photo record needs an 'id'"):
        load_dataset(tmp_path)


def test_buckets() -> None:
    assert [score.rotation_bucket(d) for d in (0, 12.5, -20, 88, -91, 183, 271, 359)] == [
        "upright",
        "upright",
        "upright",
        "~90",
        "~270",
        "~180",
        "~270",
        "upright",
    ]
    assert score.blur_bucket("Severe") == "severe" and score.blur_bucket(None, 0.4) == "none"
    assert score.blur_bucket(None, 1.5) == "mild" and score.blur_bucket(3.0) == "severe"
    assert [score.label_size_bucket(f) for f in (0.1, 0.15, 0.35, 0.36)] == [
        "<15%",
        "15-35%",
        "15-35%",
        ">35%",
    ]
    assert score.label_size_bucket(0.5, has_label=False) == "no-label"


@pytest.mark.parametrize(
    ("has_label", "condition", "want"),
    [
        (True, {"blur": "mild"}, "legible"),
        (True, {"blur_sigma": 0.3}, "legible"),
        (True, {"blur": "severe"}, "severe-blur"),
        (True, {"blur": "severe", "unreadable": True}, "unreadable"),
        (False, {"hard_negative": True}, "no-label"),
        (False, {}, "no-label"),
    ],
)
def test_legibility_bucket(has_label: bool, condition: dict[str, object], want: str) -> None:
    sample = Sample("x", Path("x.jpg"), "ups" if has_label else "none", has_label, condition=condition)
    assert score.legibility(sample) == want


def test_ground_truth_as_results_scores_perfectly(folder: Path, tmp_path: Path) -> None:
    labels = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()]
    results = _write_jsonl(
        tmp_path / "gt.jsonl",
        [{"id": r["id"], "lines": r["lines"], "fields": r["fields"]} for r in labels],
    )
    report = evaluate(folder, results=results)
    assert report["line_recall"] == 1.0 and report["line_exact"] == 1.0 and report["line_cer"] == 0.0
    assert report["word_precision"] == 1.0 and report["word_f1"] == 1.0
    assert (
        report["tracking_accuracy"] == 1.0
        and report["zip_accuracy"] == 1.0
        and report["street_accuracy"] == 1.0
    )
    assert report["negatives_with_text"] == 0.0 and report["n_negatives"] == 1
    assert report["tracking_extracted_accuracy"] == 1.0
    assert set(report["field_accuracy"].values()) == {1.0}
    assert report["n_gt_lines"] == 11 and report["n_images"] == 4 and report["n_errors"] == 0
    # no verdicts in the file: every photo reads as "unreadable", so no mismatch is detected
    assert report["verification_recall"] == 0.0 and report["verification_precision"] is None
    assert report["by"]["carrier"]["ups"]["line_recall"] == 1.0
    assert report["by"]["carrier"]["none"]["line_recall"] is None
    assert set(report["by"]) == {
        "carrier",
        "rotation",
        "blur",
        "label_size",
        "photo",
        "legibility",
        "layout",
        "kind",
    }
    assert set(report["by"]["rotation"]) == {"upright", "~180", "~270", "no-label"}
    assert set(report["by"]["blur"]) == {"none", "severe", "mild"}
    assert report["source"] == "results" and report["images_per_s"] is None
    assert "overall" in format_table(report)


def test_realistic_results(folder: Path, tmp_path: Path) -> None:
    results = _write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {
                "id": "a",
                "lines": [
                    {"text": "JOHNSMITH"},
                    {"text": "123 MAIN ST"},
                    {"text": "BROOKLYN NY11272"},
                    "1Z999AA10123456784",
                ],
                "fields": {
                    "tracking_number": UPS,
                    "zip": "11272",
                    "city": "BROOKLYN",
                    "verification": "match",
                },
            },
            {
                "id": "b",
                "lines": ["MARY JONES 9 ELM AVE", "AUST1N TX 78701"],
                "fields": {"tracking_number": None, "zip": "78701"},
                "verification": "unreadable",
            },
            {
                "id": "c",
                "lines": ["FRAGILE", "SPRINGFIELD IL 62704"],
                "fields": {},
                "verification": "mismatch",
            },
            # "d" is missing from the file: it scores as an error that read nothing
        ],
    )
    r = evaluate(folder, results=results)
    # GT lines: a 4/4 read (spaces ignored); b: "AUSTIN TX 78701" 1 edit / 13 chars ≤ 0.1 → read, merged line not
    # → b 1/4; d 0/3 → 5 / 11
    assert r["line_recall"] == pytest.approx(5 / 11)
    assert r["line_exact"] == pytest.approx(4 / 11)
    assert r["line_recall_substring"] == pytest.approx(7 / 11)  # both halves of the merged line
    assert r["tracking_accuracy"] == pytest.approx(1 / 2)  # a found, b not read (d has no tracking)
    assert r["zip_accuracy"] == pytest.approx(2 / 3)
    assert r["street_accuracy"] == pytest.approx(2 / 3)
    assert r["negatives_with_text"] == 1.0  # "IL 62704" read on the hard negative
    assert r["n_errors"] == 1
    assert r["tracking_extracted_accuracy"] == pytest.approx(1 / 2)
    assert r["field_accuracy"]["zip"] == pytest.approx(2 / 3)
    assert r["field_accuracy"]["city"] == pytest.approx(1 / 3)
    assert r["field_accuracy"]["recipient_name"] == 0.0
    conf = r["verification_confusion"]
    assert conf["match"] == {"match": 1, "mismatch": 0, "unreadable": 1}  # a; d missing → unreadable
    assert conf["mismatch"] == {"match": 0, "mismatch": 0, "unreadable": 1}  # b
    assert conf["no-label"] == {"match": 0, "mismatch": 1, "unreadable": 0}  # c
    assert r["verification_precision"] == 0.0 and r["verification_recall"] == 0.0
    b = r["photos"][1]
    assert (b["id"], b["n_gt_lines"], b["n_read"], b["tracking_found"], b["truth"], b["verdict"]) == (
        "b",
        4,
        1,
        False,
        "mismatch",
        "unreadable",
    )
    assert b["unread"][0] == {  # 7 / 9; the results carry no quads, so the miss has no cause
        "gt": "MARY JONES",
        "best": "MARY JONES 9 ELM AVE",
        "cer": 0.778,
        "cause": "unknown",
        "height": 1.0,
        "box_height": None,
    }
    assert r["photos"][3]["error"] == "not in the results file"
    assert r["by"]["photo"]["hard-negative"]["negatives_with_text"] == 1.0
    # "FRAGILE" is really printed there (neutral); the three tokens of the fake city line are false positives
    assert r["by"]["photo"]["hard-negative"]["word_precision"] == 0.0
    assert r["by"]["label_size"]["<15%"]["n_images"] == 1
    words = r["by"]["carrier"]["ups"]
    # 14 GT tokens, 7 predicted; only 123 MAIN ST BROOKLYN survive the dropped spaces
    assert (words["word_recall"], words["word_precision"]) == pytest.approx((4 / 14, 4 / 7))


def test_parquet_results_in_podocr_schema(folder: Path, tmp_path: Path) -> None:
    """Rows in the job's exact Parquet schema (podocr.io.sink.SCHEMA), in a hive-partitioned day folder."""
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    common = {"run_id": "r1", "processed_at": now, "partition": 0}
    table = sink.rows_to_table(
        [
            common
            | {
                "delivery_id": "a",
                "image_uri": "images/a.jpg",
                "status": "ok",
                "lines": [{"text": "1Z 999 AA1 01 2345 6784", "confidence": 0.9, "quad": [[0, 0]] * 4}],
                "tracking_number": UPS,
                "zip": "11272",
                "verification": "match",
                "field_scores": {"zip": 1.0},
            },
            common
            | {
                "delivery_id": "b",
                "image_uri": "images/b.jpg",
                "status": "error",
                "error_code": "decode_failed",
                "error_message": "truncated",
            },
        ]
    )
    day = tmp_path / "out" / "ocr_results" / "date=2026-11-26"
    day.mkdir(parents=True)
    pq.write_table(table, day / "part-00000.parquet")
    (day / "_SUCCESS").write_text("{}")  # the commit marker is not a part
    preds = load_results(tmp_path / "out" / "ocr_results")
    assert preds["a"].lines == ["1Z 999 AA1 01 2345 6784"] and preds["a"].verification == "match"
    assert preds["a"].fields is not None and preds["a"].fields["tracking_number"] == UPS
    assert preds["b"].error == "decode_failed: truncated"
    r = evaluate(folder, results=day / "part-00000.parquet")
    assert r["tracking_accuracy"] == pytest.approx(1 / 2) and r["n_errors"] == 3  # b errored, c and d missing


def test_results_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=":1: a result needs an 'id'"):
        load_results(_write_jsonl(tmp_path / "x.jsonl", [{"lines": []}]))
    (tmp_path / "bad.jsonl").write_text("{nope\n")
    with pytest.raises(ResultsError, match="not JSON"):
        load_results(tmp_path / "bad.jsonl")


def test_lines_only_results_skip_extraction_metrics(folder: Path, tmp_path: Path) -> None:
    r = evaluate(folder, results=_write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "lines": ["JOHN SMITH"]}]))
    assert r["tracking_extracted_accuracy"] is None and r["verification_f1"] is None and r["n_verified"] == 0
    assert r["line_recall"] == pytest.approx(1 / 11)
