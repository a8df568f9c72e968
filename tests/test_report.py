"""The per-run HTML report: numbers, charts, gallery, self-containedness, S3, and that a browser draws it.

Days here are committed with the real sink (`rows_to_table` → `write_parquet_atomic` → `publish_day`) from rows
whose photos are drawn with text at known boxes, so every number the report shows is known in advance. The
end-to-end path (synth → `podocr batch` → report) is tested in test_notebooks.py, which builds real job days.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.dataset as pads
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from podocr.cli import main
from podocr.config import IOConfig
from podocr.io import sink
from podocr.io.publish import publish_day
from podocr.report import REPORT_NAME, build_report, check_date, write_report
from podocr.report.data import ResultsNotFound, committed_days, connect
from podocr.report.svg import _ticks
from podocr.report.thumbs import THUMB_SIDE, annotate

DATE = "2026-11-26"
RUN_ID = "20261126T100000Z-test0001"
SIGNED = "https://bkt.s3.amazonaws.com/p.jpg?X-Amz-Signature=0123456789abcdef0123"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# (delivery, status, verification, carrier, valid, repaired, line confidences)
PLAN: list[tuple[str, str, str | None, str | None, bool, bool, list[float]]] = [
    ("D000", "ok", "match", "ups", True, False, [0.98, 0.97, 0.95]),
    ("D001", "ok", "match", "ups", True, True, [0.96, 0.92, 0.94]),
    ("D002", "ok", "match", "fedex", True, False, [0.99, 0.93, 0.97]),
    ("D003", "ok", "mismatch", "fedex", False, False, [0.62, 0.55, 0.71]),
    ("D004", "ok", "match", "usps", True, False, [0.91, 0.95, 0.90]),
    ("D005", "ok", "unreadable", None, False, False, [0.41, 0.38]),
    ("D006", "no_text", "unreadable", None, False, False, []),
    ("D007", "error", None, None, False, False, []),
    ("D008", "ok", "mismatch", "usps", True, False, [0.88, 0.81, 0.86]),
    ("D009", "ok", None, "amazon", True, False, [0.97, 0.96, 0.99]),
]
WORDS = ["SHIP TO", "JANE ROE", "1Z999AA10123456784", "42 ELM ST"]


def _photo(fs: Any, path: str, texts: list[str]) -> list[list[list[float]]]:
    """Draw a label with `texts` and return each text's quad in photo pixels."""
    img = Image.new("RGB", (960, 720), (139, 94, 60))
    draw = ImageDraw.Draw(img)
    draw.rectangle([160, 120, 800, 600], fill=(244, 244, 238))
    font = ImageFont.load_default(size=36)
    quads = []
    for k, text in enumerate(texts):
        x, y = 200, 160 + k * 90
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        draw.text((x, y), text, fill=(15, 15, 15), font=font)
        quads.append([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    fs.pipe_file(path, buf.getvalue())
    return quads


def build_day(
    fs: Any, root: str, date: str = DATE, missing_photo: str = "D008", scheme: str = ""
) -> list[dict[str, Any]]:
    """Photos under `{root}/in`, a committed day under `{root}/out` (paths on `fs`); returns the rows written."""
    t0 = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    fs.makedirs(f"{root}/in/photos", exist_ok=True)
    rows = []
    for i, (did, status, verification, carrier, valid, repaired, confs) in enumerate(PLAN):
        quads = [] if did == missing_photo else _photo(fs, f"{root}/in/photos/{did}.jpg", WORDS[: len(confs)])
        lines = [
            {"text": WORDS[k], "confidence": c, "quad": quads[k] if quads else [[0, 0]] * 4}
            for k, c in enumerate(confs)
        ]
        rows.append(
            {
                "run_id": RUN_ID,
                "delivery_id": did,
                "image_uri": f"photos/{did}.jpg",
                "status": status,
                "error_code": "decode_failed" if status == "error" else None,
                "error_message": f"truncated JPEG from {SIGNED}" if status == "error" else None,
                "width": 960,
                "height": 720,
                "lines": lines,
                "full_text": "\n".join(WORDS[: len(confs)]),
                "n_lines": len(lines),
                "mean_confidence": sum(confs) / len(confs) if confs else None,
                "tracking_number": "1Z999AA10123456784" if carrier else None,
                "carrier": carrier,
                "tracking_valid": valid,
                "tracking_repaired": repaired,
                "verification": verification,
                "verification_reason": {
                    "mismatch": f"tracking 1Z999AA1012345678{i}≠1Z999AA10123456784; zip 62701≠62704",
                    "unreadable": "no label text; tracking not read",
                }.get(verification or ""),
                "address_match_score": 0.31 if verification == "mismatch" else None,
                "expected_tracking": "1Z999AA10123456784",
                "expected_zip": "62704",
                "zip": "62701" if verification == "mismatch" else "62704",
                **{t: 0.01 * (k + 1) for k, t in enumerate(sink.TIMINGS)},
                "model_set": "v6-small",
                "provider": "cpu",
                "processed_at": t0 + dt.timedelta(seconds=6 * i),
                "partition": i // 5,
                "worker": f"tcp://127.0.0.1:{4000 + i % 2}",
            }
        )
    layout = sink.DayLayout(f"{root}/out", date)
    staging = layout.staging(RUN_ID)
    sink.write_json_atomic(fs, {"run_id": RUN_ID}, f"{staging}/{sink.RUN_META}")
    parts = {}
    for p in range(2):
        parts[p] = f"{staging}/{sink.part_name(p)}"
        sink.write_parquet_atomic(fs, sink.rows_to_table(rows[p * 5 : (p + 1) * 5]), parts[p])
    success = {
        "run_id": RUN_ID,
        "date": date,
        "photos_processed": len(rows),
        "manifest": {"uri": f"{scheme}{root}/in/manifests/date={date}/manifest.csv", "rows": len(rows)},
        "durations": {"total_s": 61.2},
    }
    publish_day(fs, layout, RUN_ID, parts, success)
    return rows


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-day")
    build_day(fsspec.filesystem("file"), str(root))
    return root


@pytest.fixture(scope="module")
def report_path(day: Path) -> Path:
    written = write_report(str(day / "out"), DATE, IOConfig())
    return Path(written)


@pytest.fixture(scope="module")
def html(report_path: Path) -> str:
    return report_path.read_text(encoding="utf-8")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_written_next_to_success_with_an_underscore_name(day: Path, report_path: Path):
    folder = day / "out" / "ocr_results" / f"date={DATE}"
    assert report_path == folder / REPORT_NAME
    assert (folder / sink.SUCCESS).is_file()
    # Table readers skip `_`-prefixed files: the report must not appear as a data file of the partition.
    files = pads.dataset(str(folder), format="parquet").files
    assert files and all(f.endswith(".parquet") for f in files)
    assert pads.dataset(str(folder), format="parquet").count_rows() == len(PLAN)


def test_key_numbers_are_in_the_page(html: str):
    text = _text(html)
    assert f"podocr run report · {DATE}" in text
    assert RUN_ID in text and "v6-small" in text
    found = re.findall(
        r'<div class="v">([\d,.–]+)[^<]*(?:<span[^>]*>[^<]*</span>)?</div><div class="l">([^<]+)</div>', html
    )
    by_label = {label: value for value, label in found}
    assert by_label["photos"] == "10"
    assert by_label["ok"] == "8" and by_label["no text"] == "1" and by_label["errors"] == "1"
    assert by_label["verified: match"] == "4"  # of 8 checked (match 4, mismatch 2, unreadable 2)
    assert by_label["tracking valid"] == "6"
    # 10 photos over 54 s of processed_at → 11.1 per minute
    assert by_label["photos / min"] == "11.1"
    mean_ok = sum(sum(c) / len(c) for *_, c in PLAN if c) / 8
    assert by_label["mean confidence"] == f"{mean_ok:.3f}"
    assert "decode_failed" in text
    # reasons are counted by kind, without each photo's values
    assert re.search(r"<td>tracking …≠…</td><td class=\"n\">2</td>", html)
    assert re.search(r"<td>no label text</td><td class=\"n\">2</td>", html)
    assert "1Z999AA10123456783≠1Z999AA10123456784; zip 62701≠62704" in text  # the full reason, per photo


def test_charts_and_gallery_are_inline(html: str):
    titles = re.findall(r'<svg [^>]*role="img"[^>]*><title>([^<]+)</title>', html)
    assert titles == [
        "photos by status",
        "photos per minute over the run",
        "seconds per stage, summed over photos",
        "mean confidence per photo",
        "confidence per line",
        "verification outcomes",
        "tracking numbers by carrier",
    ]
    imgs = re.findall(r'<img src="([^"]+)"', html)
    # every photo but the missing one; the error row's photo exists too, so it is drawn
    assert len(imgs) == len(PLAN) - 1
    assert all(src.startswith("data:image/jpeg;base64,") for src in imgs)
    assert "photo unavailable" in html and "D008" in html
    # self-contained: no scripts, stylesheets or images from anywhere else
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(?:src|href)="https?://', html.replace(SIGNED, ""))
    assert len(html) < 1_500_000


def test_thumbnails_are_small_and_annotated(html: str):
    (src,) = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="D000"', html)  # confident lines
    with Image.open(io.BytesIO(base64.b64decode(src))) as img:
        assert max(img.size) <= THUMB_SIDE and img.format == "JPEG"
        rgb = img.convert("RGB")
        pixels: list[tuple[int, int, int]] = list(rgb.getdata())
        greens = sum(1 for r, g, b in pixels if g > 130 and r < 90 and b < 110)
    assert greens > 50  # the confident lines' green outlines


def test_gallery_order_and_links(html: str, day: Path):
    cards = re.findall(r'<span class="tag why-([a-z-]+)">[^<]*</span> <b class="mono">(D\d+)</b>', html)
    order = [d for _, d in cards]
    assert order[:1] == ["D007"]  # errors first
    assert set(order[1:3]) == {"D003", "D008"}  # then mismatches
    assert ("low-confidence", "D000") in cards or "D000" in order
    # links point at the resolved photo, not the manifest's relative path
    assert f'href="file://{day}/in/photos/D003.jpg"' in html


def test_secrets_in_messages_do_not_reach_the_page(html: str):
    assert "0123456789abcdef0123" not in html
    assert "X-Amz-Signature=***" in html


def test_annotate_scales_quads_and_honours_pixel_limit():
    img = Image.new("RGB", (2000, 1000), "white")
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    line = {"text": "X", "confidence": 0.2, "quad": [[1000, 500], [1900, 500], [1900, 900], [1000, 900]]}
    with Image.open(io.BytesIO(annotate(buf.getvalue(), [line], 2000, 1000))) as out:
        assert out.size == (320, 160)
        pixel = out.convert("RGB").getpixel((160, 100))  # left edge of the scaled box → red outline
        assert isinstance(pixel, tuple)
        r, g, _ = pixel
        assert r > 150 and g < 120
    with pytest.raises(ValueError, match="pixel limit"):
        annotate(buf.getvalue(), [], 2000, 1000, max_pixels=1000)


def test_uncommitted_or_bad_date_is_an_error(day: Path, tmp_path: Path):
    with pytest.raises(ResultsNotFound):
        build_report(str(day / "out"), "2026-11-27")
    with pytest.raises(ValueError):
        check_date("2026-11-26' OR 1=1 --")
    result = CliRunner().invoke(main, ["report", "--date", "2026-11-27", "--output", str(day / "out")])
    assert result.exit_code == 1 and "no committed results" in result.output


def test_cli_writes_where_asked(day: Path, tmp_path: Path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        main, ["report", "--date", DATE, "--output", str(day / "out"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    assert "podocr run report" in out.read_text()


def test_connect_reads_only_committed_days(day: Path):
    days = committed_days(str(day / "out"), IOConfig())
    assert [d.date for d in days] == [DATE] and len(days[0].parts) == 2
    con = connect(str(day / "out"))
    (n, date) = con.execute("SELECT count(*), any_value(date)::VARCHAR FROM results").fetchone()  # type: ignore[misc]
    assert n == len(PLAN) and date == DATE


def test_report_on_s3(s3_server, s3_bucket: str):
    io_cfg = IOConfig(s3_endpoint_url=s3_server.endpoint_url)
    fs = s3_server.fs()
    root = f"{s3_bucket}/pod"
    build_day(fs, root, scheme="s3://")
    written = write_report(f"s3://{root}/out", DATE, io_cfg)
    assert written == f"s3://{root}/out/ocr_results/date={DATE}/{REPORT_NAME}"
    page = fs.cat_file(written).decode()
    assert page.count("data:image/jpeg;base64,") == len(PLAN) - 1  # photos fetched from S3 too
    assert "s3://" + root + "/in/photos/D003.jpg" in page


def test_svg_axis_ticks_are_round():
    assert _ticks(37) == (40, 10)
    assert _ticks(3) == (3, 1)
    assert _ticks(0.9) == (1.0, 0.5)
    assert _ticks(0) == (1.0, 0.25)


def test_headless_browser_draws_the_page(report_path: Path, tmp_path: Path):
    if CHROMIUM is None:
        message = "needs a headless browser: `apt-get install chromium` (Debian's package)"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI's set-up must install it")  # never silently skipped in CI
        pytest.skip(message)
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium refuses to start sandboxed
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            f"file://{report_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        small = img.convert("RGB").resize((128, 240))
        colors = small.getcolors(maxcolors=1 << 16) or []
        pixels = list(small.getdata())
    assert len(colors) > 50  # text, charts and photos, not a blank page
    non_background = sum(1 for p in pixels if p not in ((255, 255, 255), (246, 247, 249)))
    assert non_background / len(pixels) > 0.2
    # the header band is drawn in its dark blue
    header = small.getpixel((5, 3))
    assert isinstance(header, tuple) and header[2] > header[0]
