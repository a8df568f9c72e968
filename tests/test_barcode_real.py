"""Real phone photos (printed mock UPS labels, CC BY 4.0, see tests/data/ups_mock_labels/README.md) and
synthetic labels: the tracking barcode decodes and agrees with the printed number."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from podocr.barcode import scan_photo
from podocr.config import BarcodeConfig
from podocr.extract import extract_fields
from podocr.synth import fonts
from podocr.synth.label import Canvas, Style
from podocr.types import PageResult, TextLine

DATA = Path(__file__).parent / "data" / "ups_mock_labels"
RECORDS = [json.loads(line) for line in (DATA / "labels.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("rec", RECORDS, ids=lambda r: r["file"])
def test_real_photo_tracking_barcode_decodes_and_agrees_with_print(rec: dict) -> None:
    image = cv2.imread(str(DATA / rec["file"]))
    assert image is not None and (DATA / rec["file"]).stat().st_size < 1 << 20
    scan = scan_photo(image, None, BarcodeConfig())
    numbers = [m.number for r in scan.reads for m in r.numbers]
    assert rec["tracking_number_compact"] in numbers
    printed = next(line["text"] for line in rec["lines"] if line["text"].startswith("1Z"))
    # The printed number as OCR would read it, fused with the barcode: they agree → source "both".
    page = PageResult(
        [TextLine("TRACKING #: " + printed, 0.97, [(0, 0), (400, 0), (400, 20), (0, 20)])], 1, 1
    )
    out = extract_fields(page, None, scan.reads)
    assert out.tracking_number == rec["tracking_number_compact"] and out.tracking_source == "both"


def test_synthetic_label_barcode_round_trips_through_the_decoder() -> None:
    style = Style(fonts.SANS[0], fonts.MONO[0], True, True, True, True, True)
    canvas = Canvas(8.0, style)
    number = "9400111206206406260787"
    canvas.barcode(9, 20, 84, 24, "42011272" + number)
    ink = np.asarray(canvas.img)
    scan = scan_photo(np.dstack([ink] * 3), None, BarcodeConfig())
    assert [(m.number, r.zip) for r in scan.reads for m in r.numbers] == [(number, "11272")]
