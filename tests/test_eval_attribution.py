"""Miss attribution in `podocr eval`: hand-made pages with known causes, then the real pipeline on synth photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podocr.config import PodocrConfig
from podocr.eval import attribution as attr
from podocr.eval import score
from podocr.eval.dataset import Sample, load_dataset
from podocr.eval.evaluate import build_report, format_table, run_pipeline
from podocr.eval.results import Prediction, load_results
from podocr.synth import generate
from podocr.types import Quad


def box(x0: float, y0: float, x1: float, y1: float) -> Quad:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# Three GT lines of a hand-made label: 10 px, 6 px and 30 px tall, well apart.
GT = [box(100, 100, 300, 110), box(100, 130, 260, 136), box(100, 200, 400, 230)]


@pytest.mark.parametrize(
    ("kept", "rejected", "cause", "box_height"),
    [
        ([box(95, 95, 305, 115)], [], "misread", 20.0),  # one box over line 0 only
        ([box(95, 95, 305, 140)], [], "merged", 45.0),  # one box over lines 0 and 1
        ([], [box(95, 96, 305, 114)], "dropped", 18.0),  # only a rejected box over it
        ([box(95, 95, 190, 115), box(205, 95, 305, 115)], [], "split", None),  # two halves
        ([box(95, 95, 160, 115)], [], "partial", None),  # a third of it
        ([box(95, 195, 405, 235)], [], "not_detected", None),  # a box elsewhere only
        ([], [], "not_detected", None),  # nothing at all
    ],
)
def test_attribute_line_zero(
    kept: list[Quad], rejected: list[Quad], cause: str, box_height: float | None
) -> None:
    miss = attr.attribute(0, GT, kept, rejected)
    assert miss.cause == cause
    assert miss.box_height == pytest.approx(box_height) if box_height else miss.box_height is None


@pytest.mark.parametrize(
    ("height", "name"),
    [(None, "unknown"), (3.0, "<8"), (7.99, "<8"), (8.0, "8-12"), (11.9, "8-12"), (12.0, "12-16"),
     (16.0, "16-24"), (23.9, "16-24"), (24.0, ">=24"), (300.0, ">=24")],
)  # fmt: skip
def test_height_bins(height: float | None, name: str) -> None:
    assert attr.height_bin(height) == name


def test_text_height_and_coverage_on_tilted_quads() -> None:
    tilted = [(0.0, 0.0), (100.0, 20.0), (98.0, 30.0), (-2.0, 10.0)]  # ~10.2 px tall, turned ~11°
    assert attr.text_height(tilted) == pytest.approx(np.hypot(2, 10))
    assert attr.coverage(tilted, tilted) == pytest.approx(1.0)
    assert attr.coverage(tilted, box(-10, -10, 50, 40)) == pytest.approx(0.5, abs=0.03)
    assert attr.coverage(box(0, 0, 0, 5), box(0, 0, 10, 10)) == 0.0  # degenerate line


def _sample(texts: list[str], polys: list[Quad | None]) -> Sample:
    return Sample(id="p", image=Path("p.jpg"), carrier="ups", has_label=True, lines=texts, polys=polys)


def test_score_image_outcomes_per_line() -> None:
    texts = ["SHIP TO JOHN SMITH", "REF 12345", "1Z 999 AA1 01 2345 6784"]
    pred = Prediction(
        id="p",
        lines=["SHIP TO JOHN SMITH", "1Z 999 AA1 01 2345 6XXX"],
        quads=[box(95, 95, 305, 115), box(95, 195, 405, 235)],
    )
    s = score.score_image(_sample(texts, list(GT)), pred)
    assert [(o.bin, o.outcome) for o in s.outcomes] == [
        ("8-12", "read"),
        ("<8", "not_detected"),
        (">=24", "misread"),
    ]
    row = s.to_dict()["unread"]
    assert [(u["gt"], u["cause"], u["height"], u["box_height"]) for u in row] == [
        ("REF 12345", "not_detected", 6.0, None),
        ("1Z 999 AA1 01 2345 6784", "misread", 30.0, 40.0),
    ]
    report = score.aggregate([s])
    assert report["miss_causes"]["not_detected"] == 1 and report["miss_causes"]["misread"] == 1
    assert sum(report["miss_causes"].values()) == 2
    heights = report["by_text_height"]
    assert list(heights) == ["<8", "8-12", ">=24"]  # the bins with lines, smallest text first
    assert heights["8-12"] == {"n_gt_lines": 1, "line_recall": 1.0, "misses": score.miss_causes([]),
                               "miss_box_height_median": None}  # fmt: skip
    assert heights[">=24"]["line_recall"] == 0.0 and heights[">=24"]["miss_box_height_median"] == 40.0


@pytest.mark.parametrize(
    ("pred", "polys", "cause"),
    [
        (Prediction(id="p", lines=[], error="decode_failed: x"), list(GT[:1]), "error"),
        (Prediction(id="p", lines=["NOPE"]), list(GT[:1]), "unknown"),  # results without quads
        (Prediction(id="p", lines=["NOPE"], quads=[box(0, 0, 5, 5)]), [None], "unknown"),  # GT without polys
        (Prediction(id="p", lines=["NOPE"], quads=[box(0, 0, 5, 5)]), list(GT[:1]), "not_detected"),
    ],
)
def test_no_geometry_or_error(pred: Prediction, polys: list[Quad | None], cause: str) -> None:
    s = score.score_image(_sample(["SHIP TO JOHN SMITH"], polys), pred)
    assert [o.outcome for o in s.outcomes] == [cause]
    assert score.aggregate([s])["miss_causes"][cause] == 1


def test_blank_gt_lines_keep_polys_aligned(tmp_path: Path) -> None:
    """A blank GT line is not scored, the polygons after it stay with their lines, and one line without a
    polygon leaves the photo's misses unattributed (`unknown`) rather than attributed against partial GT."""
    rec = {
        "id": "a",
        "lines": [
            {"text": "FIRST LINE", "poly": [list(p) for p in GT[2]]},
            {"text": "   ", "poly": [list(p) for p in GT[0]]},
            {"text": "SECOND", "poly": [list(p) for p in GT[1]]},
            {"text": "NO POLY", "poly": [[1, 2]]},
        ],
    }
    (tmp_path / "labels.jsonl").write_text(json.dumps(rec) + "\n")
    (sample,) = load_dataset(tmp_path)
    assert sample.polys[0] == GT[2] and sample.polys[-1] is None and len(sample.polys) == len(sample.lines)
    pred = Prediction(id="a", lines=["FIRST LINE"], quads=[box(95, 195, 405, 235)])
    outcomes = score.score_image(sample, pred).outcomes
    assert [(o.bin, o.outcome) for o in outcomes] == [
        (">=24", "read"),
        ("<8", "unknown"),
        ("unknown", "unknown"),
    ]


def test_results_jsonl_carries_quads_and_rejected(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    rows = [
        {"id": "a", "lines": [{"text": "X", "quad": [list(p) for p in GT[0]]}],
         "rejected": [{"text": "", "quad": [list(p) for p in GT[1]]}]},
        {"id": "b", "lines": [{"text": "X"}, {"text": "Y", "quad": [list(p) for p in GT[0]]}]},
        {"id": "c", "lines": ["plain"]},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = load_results(path)
    assert got["a"].quads == [GT[0]] and got["a"].rejected == [GT[1]]
    assert got["b"].quads is None and got["c"].quads is None  # a line without a quad: no geometry


# ---- the real pipeline on synthetic photos --------------------------------------------------------------------
SEED, N = 10, 4


@pytest.fixture(scope="module")
def pipeline_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Sample], list[Prediction], dict[str, Any]]:
    out = tmp_path_factory.mktemp("attr")
    generate(str(out), N, SEED, max_side=1280)
    samples = load_dataset(out)
    cfg = PodocrConfig.load(overrides={"models.set": "v6-tiny", "rec.fast_set": ""})
    preds, timing = run_pipeline(samples, cfg)
    return samples, preds, build_report(samples, preds, timing)


def test_pipeline_lines_get_heights_and_causes(
    pipeline_run: tuple[list[Sample], list[Prediction], dict[str, Any]],
) -> None:
    _, _, report = pipeline_run
    heights = report["by_text_height"]
    assert sum(b["n_gt_lines"] for b in heights.values()) == report["n_gt_lines"] > 0
    assert "unknown" not in heights  # synth GT has polygons and the pipeline has quads
    missed = report["n_gt_lines"] - round(report["line_recall"] * report["n_gt_lines"])
    causes = report["miss_causes"]
    assert sum(causes.values()) == missed and causes["unknown"] == causes["error"] == 0
    for photo in report["photos"]:
        for u in photo["unread"]:
            assert u["cause"] in attr.CAUSES and u["height"] > 0
            assert (u["box_height"] is not None) == (u["cause"] in ("misread", "merged", "dropped"))
    assert "line recall by text height" in format_table(report)


def test_pipeline_boxes_lie_over_the_lines_they_read(
    pipeline_run: tuple[list[Sample], list[Prediction], dict[str, Any]],
) -> None:
    """The frames agree: the predicted line that reads a GT line exactly covers that line's polygon."""
    samples, preds, _ = pipeline_run
    checked = 0
    for sample, pred in zip(samples, preds, strict=True):
        assert pred.quads is not None and len(pred.quads) == len(pred.lines)
        for text, poly in zip(sample.lines, sample.polys, strict=True):
            hits = [
                q
                for t, q in zip(pred.lines, pred.quads, strict=True)
                if t.replace(" ", "") == text.replace(" ", "")
            ]
            if poly is not None and len(text.replace(" ", "")) >= 6 and len(hits) == 1:
                assert attr.coverage(poly, hits[0]) >= attr.COVERED, (sample.id, text)
                checked += 1
    assert checked >= 10
