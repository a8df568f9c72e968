"""The per-run HTML report: `podocr report --date D`, or `write_report(...)` from the job after commit.

Written next to `_SUCCESS` as `_report.html` by default. The leading underscore matters: Spark, Hive and
Athena skip `_`- and `.`-prefixed files, so a non-Parquet file inside the partition folder does not break
readers of the table. The job's commit replaces the day's folder, so a rerun's report replaces the old one.
"""

from __future__ import annotations

import datetime as dt
import re

from podocr.config import IOConfig

REPORT_NAME = "_report.html"


def check_date(date: str) -> str:
    """`date` if it is a real YYYY-MM-DD day; ValueError otherwise (it ends up in paths and SQL)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ValueError(f"date must be YYYY-MM-DD, got {date!r}")
    dt.date.fromisoformat(date)
    return date


def default_report_uri(output_uri: str, date: str) -> str:
    from podocr.report.data import day_folder

    return f"{day_folder(output_uri, date)}/{REPORT_NAME}"


def build_report(
    output_uri: str,
    date: str,
    io_cfg: IOConfig | None = None,
    images_root: str | None = None,
    gallery_size: int = 24,
) -> str:
    """The report page for the committed day `date` under `output_uri`, as HTML text.

    `images_root` resolves relative `image_uri`s for the gallery when `_SUCCESS` does not record it (default:
    the input root the manifest was read from). Raises `ResultsNotFound` when the day has no `_SUCCESS`.
    """
    from podocr.report.data import committed_days, connect
    from podocr.report.render import page
    from podocr.report.summary import load_day, mismatches, summarise, worst_photos
    from podocr.report.thumbs import fetch_thumbnails, image_store, images_root_of, resolved

    check_date(date)
    io_cfg = io_cfg or IOConfig()
    con = connect(output_uri, io_cfg, dates=[date])
    try:
        (day,) = committed_days(output_uri, io_cfg, [date])
        table = load_day(con, date)
        summary = summarise(con, table, date, day.success)
        gallery = worst_photos(con, table, date, gallery_size)
        store = image_store(io_cfg, images_root_of(day.success, images_root))
        thumbs = fetch_thumbnails([g.row for g in gallery], io_cfg, store)
        header, rows = mismatches(con, table)
        at = header.index("image_uri")
        rows = [(*r[:at], resolved(store, r[at]), *r[at + 1 :]) for r in rows]
        return page(summary, gallery, thumbs, (header, rows))
    finally:
        con.close()


def write_report(
    output_uri: str, date: str, io_cfg: IOConfig, out_uri: str | None = None, images_root: str | None = None
) -> str:
    """Build the report for `date` and write it to `out_uri` (default: `_report.html` next to `_SUCCESS`).

    Returns the URI written. Local or any fsspec URI (s3://…), with the job's storage settings.
    """
    from podocr.io.storage import open_fs

    html = build_report(output_uri, date, io_cfg, images_root)
    target = out_uri or default_report_uri(output_uri, date)
    fs, path = open_fs(target, io_cfg)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, html.encode("utf-8"))
    return target
