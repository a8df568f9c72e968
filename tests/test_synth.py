"""The synthetic POD photo generator: check digits, distributions, geometry of the ground truth, files.

Distribution tests sample scene parameters only (no pixels); geometry tests render small frames
(`max_side`), which keeps the content and only shrinks the pixels.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from podocr.cli import main
from podocr.synth import (
    FONT_APT_PACKAGES,
    MANIFEST_COLUMNS,
    generate,
    load_labels,
    render_photo,
    sample_scene,
)
from podocr.synth.scene import KINDS
from podocr.synth.tracking import CARRIERS, format_tracking, is_valid, make_tracking, ups_check_digit

REPO = Path(__file__).resolve().parents[1]
N_SCENES = 400  # parameter sampling only: cheap


# ---- independent check-digit validators (written from the published rules, not the generator's code) ----
def _ups_ok(n: str) -> bool:
    if not re.fullmatch(r"1Z[0-9A-Z]{16}", n):
        return False
    vals = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in n[2:17]]
    total = sum(v * 2 if i % 2 == 1 else v for i, v in enumerate(vals))
    return (10 - total % 10) % 10 == int(n[17])


def _fedex_ok(n: str) -> bool:
    if not re.fullmatch(r"\d{12}", n):
        return False
    total = sum(int(d) * w for d, w in zip(n[:11], [3, 1, 7] * 4, strict=False))
    return total % 11 % 10 == int(n[11])


def _usps_ok(n: str) -> bool:
    if not re.fullmatch(r"\d{22}", n):
        return False
    body = n[:21][::-1]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10 == int(n[21])


INDEPENDENT = {
    "ups": _ups_ok,
    "fedex": _fedex_ok,
    "usps": _usps_ok,
    "amazon": lambda n: re.fullmatch(r"TBA\d{12}", n) is not None,
}


def test_ups_check_digit_matches_published_example() -> None:
    assert ups_check_digit("5R8939035756712") == 7
    assert is_valid("ups", "1Z5R89390357567127") and _ups_ok("1Z5R89390357567127")
    assert not is_valid("ups", "1Z5R89390357567128")
    assert not is_valid("ups", "1Z5R89390357567217")  # transposed digits


def test_fedex_and_usps_check_digits() -> None:
    assert is_valid("fedex", "986578788855") and _fedex_ok("986578788855")  # published FedEx example
    assert not is_valid("fedex", "986578788856")
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = make_tracking("usps", rng)
        assert _usps_ok(n) and is_valid("usps", n)
        bad = n[:5] + str((int(n[5]) + 1) % 10) + n[6:]
        assert not _usps_ok(bad) and not is_valid("usps", bad)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_generated_tracking_numbers_validate(carrier: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = make_tracking(carrier, rng)
        assert INDEPENDENT[carrier](n), n
        assert format_tracking(carrier, n).replace(" ", "") == n


@pytest.fixture(scope="module")
def scenes() -> list:
    return [sample_scene(7, i) for i in range(N_SCENES)]


def test_carrier_and_content_distribution(scenes: list) -> None:
    content = Counter(s.content for s in scenes)
    assert 0.01 <= (content["box_no_label"] + content["floor_only"]) / N_SCENES <= 0.10
    assert content["box_no_label"] > 0 and content["floor_only"] > 0
    unreadable = Counter(s.unreadable for s in scenes)
    assert 0.01 <= (unreadable["blur"] + unreadable["tiny"]) / N_SCENES <= 0.10
    labelled = [s for s in scenes if s.content == "label"]
    carriers = Counter(s.carrier for s in labelled)
    assert set(carriers) == set(CARRIERS)
    for c in CARRIERS:
        assert 0.15 <= carriers[c] / len(labelled) <= 0.35, carriers
    assert all(s.carrier == "none" and s.tracking is None for s in scenes if s.content != "label")
    for s in labelled:
        assert INDEPENDENT[s.carrier](s.tracking)


def test_geometry_and_photometry_distribution(scenes: list) -> None:
    rot = np.array([s.geometry.rotation_deg for s in scenes])
    quarter = np.minimum(np.abs(np.abs(rot) - 90), 360)
    near_quarter = (quarter < 20).mean()
    near_half = (np.abs(rot - 180) < 20).mean()
    small = (np.abs(rot) <= 25).mean()
    assert 0.05 <= near_quarter <= 0.16 and 0.02 <= near_half <= 0.09 and small >= 0.78
    readable = [s for s in scenes if s.content == "label" and s.unreadable is None]
    area = np.array([s.geometry.label_area_frac for s in readable])
    assert area.min() >= 0.08 - 1e-9 and area.max() <= 0.70 + 1e-9
    assert (area < 0.2).mean() > 0.1 and (area > 0.4).mean() > 0.1  # the whole range is used
    assert np.mean([s.est_xheight_px >= 10 for s in readable]) >= 0.8  # text mostly big enough to read
    sizes = Counter((max(s.width, s.height), min(s.width, s.height)) for s in scenes)
    assert all(1024 <= long <= 2048 or (long, short) == (4032, 3024) for long, short in sizes)
    assert 0.02 <= sum(v for k, v in sizes.items() if k[0] == 4032) / N_SCENES <= 0.15
    assert 0.3 <= np.mean([s.height > s.width for s in scenes]) <= 0.8  # both orientations
    blur = Counter(s.photometry.blur for s in readable)
    assert blur["none"] > blur["severe"] > 0 and blur["mild"] > blur["severe"]
    assert all(s.photometry.blur == "severe" for s in scenes if s.unreadable == "blur")
    q = [s.photometry.jpeg_q for s in scenes]
    assert min(q) >= 40 and max(q) <= 95
    assert 0.05 <= np.mean([s.photometry.low_light for s in scenes]) <= 0.2
    assert {s.background for s in scenes} >= {"wood", "concrete", "doormat", "tiles", "grass", "porch"}
    assert {s.parcel for s in scenes} == {"box", "mailer", None}


def test_planted_mismatches(scenes: list) -> None:
    by_kind = {k: [s for s in scenes if s.mismatch_kind == k] for k in KINDS}
    shares = {k: len(v) / N_SCENES for k, v in by_kind.items()}  # a low-discrepancy sequence, not coin flips
    assert 0.10 <= shares["other_parcel"] <= 0.14 and 0.06 <= shares["address_differs"] <= 0.10
    assert 0.015 <= shares["recipient_differs"] <= 0.045
    for s in by_kind["other_parcel"]:  # a different, plausible parcel: every identifying field differs
        assert s.content == "label" and s.unreadable is None and s.expected_verification == "mismatch"
        assert s.expected.name != s.recipient.name and s.expected.street != s.recipient.street
        assert s.expected_tracking not in (s.tracking, s.tracking2)
        assert any(check(s.expected_tracking) for check in INDEPENDENT.values())
    for s in by_kind["address_differs"]:  # this parcel, exactly one delivery-point field changed
        assert s.expected_verification == "mismatch" and s.expected_tracking in (s.tracking, s.tracking2)
        diff = {f for f in ("name", "street", "city", "zip5", "state", "unit") if getattr(s.expected, f) !=
                getattr(s.recipient, f)}  # fmt: skip
        assert diff == {
            "zip5" if s.changed_field == "zip" else "city" if s.changed_field == "city" else "street"
        }
        if s.changed_field == "house_number":
            assert s.expected.street.split(" ", 1)[1] == s.recipient.street.split(" ", 1)[1]
    for s in by_kind["recipient_differs"]:  # same parcel and address, another name: not a misdelivery
        assert s.expected_verification == "match" and s.expected.name != s.recipient.name
        assert (s.expected.street, s.expected.zip5) == (s.recipient.street, s.recipient.zip5)
    for s in scenes:
        if not s.mismatch and s.content == "label":
            assert s.expected == s.recipient and s.expected_tracking in (s.tracking, s.tracking2)
        if s.layout == "hybrid":
            assert s.carrier == "ups" and s.tracking2 and INDEPENDENT["usps"](s.tracking2) and s.post_office
        if s.content != "label":  # the manifest still expects a parcel: a full, valid row
            assert s.expected.name and any(check(s.expected_tracking) for check in INDEPENDENT.values())
        if s.content != "label" or s.unreadable:
            assert s.expected_verification == "unreadable"
    assert 0.08 <= sum(s.layout == "hybrid" for s in scenes) / N_SCENES <= 0.22


def test_same_seed_same_scene_different_seed_different() -> None:
    assert sample_scene(5, 3) == sample_scene(5, 3)
    assert sample_scene(5, 3) != sample_scene(6, 3)


# ---- rendered photos ----------------------------------------------------------------------------------------
def _inside(points: np.ndarray, poly: np.ndarray, tol: float) -> bool:
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    return all(cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= -tol for x, y in points)


def _pick(kind: str, seed: int = 7) -> int:
    for i in range(N_SCENES):
        s = sample_scene(seed, i)
        if (
            (kind == "quarter" and s.content == "label" and abs(abs(s.geometry.rotation_deg) - 90) < 20)
            or (kind == "half" and s.content == "label" and abs(s.geometry.rotation_deg - 180) < 20)
            or (
                kind == "mailer"
                and s.content == "label"
                and s.parcel == "mailer"
                and s.geometry.bend_mm > 1.5
            )
            or (kind == "no_label" and s.content != "label")
            or (kind == "unreadable" and s.unreadable is not None)
        ):
            return i
    raise AssertionError(kind)


@pytest.mark.parametrize("index", [0, 1, 2, 3, "quarter", "half", "mailer", "no_label", "unreadable"])
def test_rendered_ground_truth_geometry(index: int | str) -> None:
    i = index if isinstance(index, int) else _pick(index)
    img, rec = render_photo(7, i, max_side=640)
    h, w = img.shape[:2]
    assert (rec["width"], rec["height"]) == (w, h) and max(w, h) == 640 and img.dtype == np.uint8
    assert rec["id"] == f"s7_{i:06d}" and rec["file"] == f"images/{rec['id']}.jpg"
    assert set(rec) >= {"id", "file", "width", "height", "carrier", "condition", "lines", "fields"}
    assert set(rec) >= {"label_poly", "expected_matches"}
    cond = rec["condition"]
    assert cond["blur"] in ("none", "mild", "severe") and 40 <= cond["jpeg_q"] <= 95
    if rec["label_poly"] is None:
        assert rec["carrier"] == "none" and rec["lines"] == [] and cond["hard_negative"]
        assert all(v is None for v in rec["fields"].values()) and rec["expected_verification"] == "unreadable"
        return
    label = np.array(rec["label_poly"])
    assert _inside(label, np.array([[0, 0], [w, 0], [w, h], [0, h]]), 0.5)
    for d in rec["distractor_lines"]:  # box print never hides under the label (it would be unseen text)
        centre = np.array(d["poly"]).mean(0, keepdims=True)
        assert not _inside(centre, label, -2.0), d
    assert abs(cond["label_area_frac"] - cv2.contourArea(label.astype(np.float32)) / (w * h)) < 1e-3
    roles = Counter(line["role"] for line in rec["lines"])
    assert (
        roles["recipient"] >= 3
        and roles["sender"] >= 3
        and roles["tracking"] == (2 if rec["layout"] == "hybrid" else 1)  # hybrid: the 1Z and the IMpb
        and roles["service"] == 1
    )
    for line in rec["lines"]:
        poly = np.array(line["poly"])
        assert poly.shape == (4, 2) and line["text"].strip()
        assert _inside(poly, label, 2.0), line
        assert (
            poly[:, 0].min() >= -0.5
            and poly[:, 1].min() >= -0.5
            and poly[:, 0].max() <= w
            and poly[:, 1].max() <= h
        )
    f = rec["fields"]
    texts = [ln["text"] for ln in rec["lines"] if ln["role"] == "recipient"]
    assert texts[0] == f["recipient_name"]
    assert any(t.startswith(f["street"]) for t in texts) and any(t.endswith(f["zip"]) for t in texts)
    assert any(f["city"] in t and f" {f['state']} " in t for t in texts)
    if f["unit"]:
        on_street = any(t == f"{f['street']} {f['unit']}" for t in texts)
        assert on_street == (cond["unit_placement"] == "street_line")
    tracking_line = next(ln["text"] for ln in rec["lines"] if ln["role"] == "tracking")
    assert format_tracking(rec["carrier"], f["tracking_number"]) in tracking_line
    assert INDEPENDENT[rec["carrier"]](f["tracking_number"])
    # measured rotation agrees with the planned one (perspective bends it a little)
    planned = sample_scene(7, i).geometry.rotation_deg
    assert abs((cond["rotation_deg"] - planned + 180) % 360 - 180) < 15


def test_label_text_is_rendered_where_the_polygons_say() -> None:
    """Ink inside the recipient polygons, paper around them: the GT is on the pixels, not beside them."""
    img, rec = render_photo(7, 0, max_side=1024)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for line in rec["lines"]:
        if line["role"] != "recipient":
            continue
        poly = np.array(line["poly"], np.float32)
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillConvexPoly(mask, np.round(poly).astype(np.int32), 1)
        inside = grey[mask > 0]
        assert inside.min() < 0.6 * np.percentile(inside, 90), line  # dark strokes on light paper


# ---- files -------------------------------------------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "one"
    generate(str(out), 6, 13, date="2026-11-26", workers=1, max_side=512)
    return out


def test_batch_is_byte_identical_across_workers(batch: Path, tmp_path: Path) -> None:
    summary = generate(tmp_path / "two", 6, 13, date="2026-11-26", workers=2, max_side=512)
    assert summary.workers == 2 and summary.n == 6
    assert _tree(batch) == _tree(tmp_path / "two")
    generate(tmp_path / "other", 2, 14, max_side=512)
    assert _tree(tmp_path / "other")["images/s14_000000.jpg"] != _tree(batch)["images/s13_000000.jpg"]


def test_in_memory_photo_equals_the_written_file(batch: Path) -> None:
    img, rec = render_photo(13, 2, max_side=512)
    on_disk = cv2.imread(str(batch / rec["file"]), cv2.IMREAD_COLOR)
    assert on_disk is not None and np.array_equal(img, on_disk)
    assert load_labels(batch)[2] == json.loads(json.dumps(rec))


def test_labels_and_manifest_layout(batch: Path) -> None:
    records = load_labels(batch)
    assert [r["id"] for r in records] == [f"s13_{i:06d}" for i in range(6)]
    with open(batch / "manifest.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS
        rows = list(reader)
    assert (batch / "manifests" / "date=2026-11-26" / "manifest.csv").read_bytes() == (
        batch / "manifest.csv"
    ).read_bytes()
    for rec, row in zip(records, rows, strict=True):
        assert row["delivery_id"] == rec["id"] and row["image_uri"] == rec["file"]
        assert (batch / row["image_uri"]).is_file()
        exp = rec["expected"]
        assert row["expected_name"] == exp["name"] and row["expected_zip"] == exp["zip"]
        assert re.fullmatch(r"\d{5}", row["expected_zip"]) and row["expected_tracking"]
        f = rec["fields"]
        # same parcel: the label says what the row expects
        if rec["expected_matches"] and f["recipient_name"]:
            assert f["recipient_name"].upper() == row["expected_name"].upper()
            assert f["zip"][:5] == row["expected_zip"] and f["tracking_number"] == row["expected_tracking"]
            street = f"{f['street']} {f['unit']}" if f["unit"] else f["street"]
            assert street.upper() == row["expected_street"].upper()
    meta = json.loads((batch / "synth.json").read_text())
    assert meta["seed"] == 13 and meta["n"] == 6


def test_cli_synth_writes_the_layout(tmp_path: Path) -> None:
    out = tmp_path / "day"
    result = CliRunner().invoke(
        main,
        ["synth", "--out", str(out), "--n", "2", "--seed", "5", "--date", "2026-01-02", "--max-side", "384"],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 photos" in result.output
    for rel in ("labels.jsonl", "manifest.csv", "manifests/date=2026-01-02/manifest.csv", "synth.json"):
        assert (out / rel).is_file(), rel
    assert sorted(p.name for p in (out / "images").iterdir()) == ["s5_000000.jpg", "s5_000001.jpg"]
    bad = CliRunner().invoke(
        main, ["synth", "--out", str(tmp_path / "x"), "--n", "1", "--date", "26-11-2026"]
    )
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_font_packages_match_setup_script() -> None:
    """CI installs exactly the packages the renderer looks fonts up in."""
    setup = (REPO / "scripts" / "setup.sh").read_text()
    listed = re.search(r'FONT_PKGS="([^"]+)"', setup)
    assert listed is not None and tuple(listed.group(1).split()) == FONT_APT_PACKAGES
