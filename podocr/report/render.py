"""The report's HTML: one self-contained page (inline CSS, inline SVG charts, base64 JPEG thumbnails).

Self-contained because it is read where it lands — an S3 console download, a mail attachment, an air-gapped
ops laptop — so it may load nothing from the network. Every string from the data is escaped, and messages that
can carry URLs are passed through `redact` (a presigned URL in an error message must not leak via the report).

Longer than our usual module on purpose: it is one page template, section after section, and splitting it
would scatter the page's order (which is what a reader of this file checks) over several files.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from podocr.logs import redact
from podocr.report import svg
from podocr.report.summary import NO_TRACKING, NOT_CHECKED, DaySummary, GalleryItem
from podocr.report.thumbs import confidence_color

CSS = """
:root { --fg:#1f2933; --muted:#5f6b76; --line:#e3e6ea; --bg:#f6f7f9; --card:#fff; --accent:#2f6fb0; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#1f3b57; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header p { margin:0; color:#c9d6e3; font-size:13px; }
main { padding:18px 28px 40px; max-width:1240px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:0 0 16px; }
h2 { font-size:16px; margin:0 0 10px; }
h3 { font-size:13px; margin:8px 0 6px; color:var(--muted); font-weight:600; }
.kpis { display:grid; grid-template-columns:repeat(auto-fill,minmax(128px,1fr)); gap:10px; background:none;
        border:none; padding:0; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.kpi .v { font-size:22px; font-weight:650; }
.kpi .l { color:var(--muted); font-size:12px; }
.kpi .s { font-size:13px; font-weight:500; color:var(--muted); }
.kpi.bad .v { color:#c4453c; } .kpi.good .v { color:#2e8a4f; }
.row { display:flex; flex-wrap:wrap; gap:18px 28px; align-items:flex-start; }
.row > div { min-width:0; } .row > div + div { flex:1 1 380px; }  /* tables beside a chart wrap their text */
table { border-collapse:collapse; font-size:12.5px; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { color:var(--muted); font-weight:600; }
td.n { text-align:right; font-variant-numeric:tabular-nums; }
.scroll { max-width:100%; overflow-x:auto; }
code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
.gallery { display:grid; grid-template-columns:repeat(auto-fill,minmax(300px,1fr)); gap:14px; }
.card { border:1px solid var(--line); border-radius:8px; overflow:hidden; background:#fff; }
.card .img { background:#20262c; display:flex; justify-content:center; align-items:center; min-height:120px; }
.card img { display:block; max-width:100%; max-height:320px; }
.card .ph { color:#f0b6b1; padding:24px 12px; text-align:center; font-size:12px; }
.card .body { padding:8px 10px 10px; font-size:12px; }
.tag { display:inline-block; border-radius:10px; padding:0 8px; font-size:11px; font-weight:600; color:#fff; }
.why-error { background:#c4453c; } .why-mismatch { background:#b4432f; } .why-unreadable { background:#c7921a; }
.why-no-text { background:#8a939c; } .why-low-confidence { background:#6d5ba6; }
.card ol { margin:6px 0 0; padding-left:20px; max-height:150px; overflow-y:auto; }
.card li { white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.uri { display:block; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; color:var(--muted); }
.muted { color:var(--muted); }
pre { background:var(--bg); padding:10px; border-radius:6px; overflow-x:auto; font-size:12px; }
footer { color:var(--muted); font-size:12px; padding:0 28px 24px; }
"""


def _n(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "–"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            cls = ' class="n"' if i in numeric else ""
            cells.append(
                f"<td{cls}>{v if isinstance(v, _Html) else escape('' if v is None else str(v))}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


class _Html(str):
    """A table cell that is already markup (links), so `_table` does not escape it again."""


def href(uri: str) -> str:
    """A link target for `image_uri`: local paths become file:// URLs; other schemes are kept as they are."""
    if "://" in uri:
        return uri
    return "file://" + uri if uri.startswith("/") else uri


def _link(uri: str | None, text: str | None = None) -> _Html:
    if not uri:
        return _Html("")
    return _Html(f'<a href="{escape(href(uri))}" class="mono">{escape(text or uri)}</a>')


def _uri_line(uri: str | None) -> str:
    if not uri:
        return ""
    return f'<a class="uri mono" href="{escape(href(uri))}" title="{escape(uri)}">{escape(uri)}</a>'


def _kpi(label: str, value: str, tone: str = "", sub: str = "") -> str:
    small = f' <span class="s">{escape(sub)}</span>' if sub else ""
    return f'<div class="kpi {tone}"><div class="v">{escape(value)}{small}</div><div class="l">{escape(label)}</div></div>'


def _kpis(s: DaySummary) -> str:
    ok, errors, no_text = s.status.get("ok", 0), s.status.get("error", 0), s.status.get("no_text", 0)
    checked = sum(v for k, v in s.verification.items() if k != NOT_CHECKED)
    match = s.verification.get("match", 0)
    tiles = [
        _kpi("photos", _n(s.total)),
        _kpi("ok", _n(ok), "good", _pct(ok, s.total)),
        _kpi("no text", _n(no_text), "", _pct(no_text, s.total)),
        _kpi("errors", _n(errors), "bad" if errors else "", _pct(errors, s.total)),
        _kpi("photos / min", _n(s.photos_per_min, 1)),
        _kpi("mean confidence", _n(s.mean_confidence, 3)),
        _kpi("verified: match", _n(match), "", f"of {_n(checked)}" if checked else ""),
        _kpi("tracking valid", _n(s.tracking_valid), "", f"of {_n(s.tracking_found)}"),
    ]
    return f'<section class="kpis">{"".join(tiles)}</section>'


def _status_section(s: DaySummary) -> str:
    chart = svg.hbar(list(s.status.items()), "photos by status", colors=svg.STATUS_COLORS, width=460)
    if s.error_codes:
        codes = _table(
            ["error code", "photos", "example message"],
            [(c, n, redact(m)[:160]) for c, n, m in s.error_codes],
            [1],
        )
    else:
        codes = '<p class="muted">No photo errors.</p>'
    return (
        f'<section id="status"><h2>Status and errors</h2><div class="row"><div>{chart}</div>'
        f"<div><h3>errors by code</h3>{codes}</div></div></section>"
    )


def _throughput_section(s: DaySummary) -> str:
    rates = [n * 60.0 / s.bin_s for n in s.per_bin]
    labels = [_clock(i * s.bin_s) for i in range(len(rates) + 1)]
    tips = [
        f"{_clock(i * s.bin_s)}–{_clock((i + 1) * s.bin_s)}: {n:,} photos" for i, n in enumerate(s.per_bin)
    ]
    done = list(itertools.accumulate(s.per_bin))
    chart = svg.columns(
        rates,
        "photos per minute over the run",
        x_labels=labels,
        x_title=f"time since the run started ({s.bin_s}-second bins)",
        y_title="photos / min",
        width=760,
        bar_titles=tips,
        line=done,
        line_title="photos done",
    )
    span = f"{s.start_at} → {s.last_at} ({_clock(round(s.span_s))})" if s.start_at else "–"
    return (
        f'<section id="throughput"><h2>Throughput</h2><p class="muted">Photos finished per minute (bars) and in '
        f"total (line), from each row's <code>processed_at</code>: {escape(span)}. A partition's photos finish "
        f"together, so short runs look bursty.</p>{chart}</section>"
    )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60}:{rem % 60:02d}"


def _stages_section(s: DaySummary) -> str:
    if not s.stages:
        return '<section id="stages"><h2>Where the time went</h2><p class="muted">No stage timings.</p></section>'
    chart = svg.hbar(
        [(t.stage, t.total_s) for t in s.stages],
        "seconds per stage, summed over photos",
        colors={t.stage: svg.PALETTE[0] for t in s.stages},
        width=460,
        value_fmt=lambda v: f"{v:,.1f} s",
    )
    rows = [
        (
            t.stage,
            f"{t.total_s:,.1f}",
            f"{t.mean_s * 1e3:,.1f}",
            f"{t.p50_s * 1e3:,.1f}",
            f"{t.p95_s * 1e3:,.1f}",
        )
        for t in s.stages
    ]
    table = _table(["stage", "total s", "mean ms", "p50 ms", "p95 ms"], rows, [1, 2, 3, 4])
    return (
        f'<section id="stages"><h2>Where the time went</h2><p class="muted">Each photo\'s share of batched stage time; '
        f"fetch overlaps compute, so stages add up to more than the wall clock.</p>"
        f'<div class="row"><div>{chart}</div><div>{table}</div></div></section>'
    )


def _confidence_section(s: DaySummary) -> str:
    photo = svg.histogram(
        s.photo_conf_hist,
        "mean confidence per photo",
        x_title="mean line confidence (ok photos)",
        y_title="photos",
        width=440,
    )
    line = svg.histogram(
        s.line_conf_hist,
        "confidence per line",
        x_title=f"line confidence ({s.n_lines:,} lines)",
        y_title="lines",
        width=440,
    )
    return (
        f'<section id="confidence"><h2>Recognition confidence</h2>'
        f'<div class="row"><div>{photo}</div><div>{line}</div></div></section>'
    )


def _verification_section(s: DaySummary, mismatch_table: tuple[list[str], list[tuple[Any, ...]]]) -> str:
    chart = svg.hbar(
        list(s.verification.items()), "verification outcomes", colors=svg.VERIFY_COLORS, width=460
    )
    reasons = (
        _table(["first reason (mismatch / unreadable)", "photos"], s.verification_reasons, [1])
        if s.verification_reasons
        else '<p class="muted">No mismatches or unreadable labels.</p>'
    )
    header, rows = mismatch_table
    table = ""
    if rows:
        uri_at = header.index("image_uri")
        linked = [tuple(_link(v) if i == uri_at else v for i, v in enumerate(r)) for r in rows]
        table = f"<h3>mismatches, worst address match first</h3>{_table(header, linked, [2])}"
    return (
        f'<section id="verification"><h2>Verification against the manifest</h2>'
        f'<div class="row"><div>{chart}</div><div>{reasons}</div></div>{table}</section>'
    )


def _tracking_section(s: DaySummary) -> str:
    cats = [c.carrier for c in s.carriers]
    chart = svg.stacked_hbar(
        cats,
        {
            "valid": [c.valid - c.repaired for c in s.carriers],
            "valid after repair": [c.repaired for c in s.carriers],
            "check digit fails": [c.invalid for c in s.carriers],
        },
        "tracking numbers by carrier",
        colors={"valid": "#3a9a5b", "valid after repair": "#8cc084", "check digit fails": "#c4453c"},
    )
    rows: list[tuple[Any, ...]] = [
        (c.carrier, c.valid + c.invalid, c.valid, c.repaired, _pct(c.valid, c.valid + c.invalid))
        for c in s.carriers
    ]
    none = s.total - s.tracking_found
    rows.append((NO_TRACKING, none, "", "", ""))
    table = _table(["carrier", "photos", "valid", "repaired", "valid %"], rows, [1, 2, 3, 4])
    return (
        f'<section id="tracking"><h2>Tracking numbers by carrier</h2>'
        f'<div class="row"><div>{chart}</div><div>{table}</div></div></section>'
    )


def _card(item: GalleryItem, thumb: str | Exception) -> str:
    r = item.row
    if isinstance(thumb, str):
        image = f'<img src="{thumb}" alt="{escape(str(r["delivery_id"]))}" loading="lazy">'
    else:
        image = f'<div class="ph">photo unavailable<br>{escape(redact(str(thumb))[:200])}</div>'
    facts = [
        f'<span class="tag why-{item.why.replace(" ", "-")}">{escape(item.why)}</span> <b class="mono">{escape(str(r["delivery_id"]))}</b>'
    ]
    if r.get("status") == "error":
        facts.append(
            f"<code>{escape(str(r.get('error_code')))}</code> {escape(redact(str(r.get('error_message') or ''))[:200])}"
        )
    else:
        conf = r.get("mean_confidence")
        facts.append(
            f"{escape(str(r.get('status')))} · {_n(r.get('n_lines'))} lines · confidence {_n(conf, 3)}"
        )
    if r.get("verification"):
        reason = str(r.get("verification_reason") or "")
        score = r.get("address_match_score")
        if score is not None and "address score" not in reason:
            reason += f"{'; ' if reason else ''}address score {score:.2f}"
        facts.append(
            f"verification: <b>{escape(str(r['verification']))}</b>{escape(' — ' + reason if reason else '')}"
        )
    if r.get("status") == "ok":
        want = (
            f'expected <span class="mono">{escape(str(r["expected_tracking"]))}</span>'
            if r.get("expected_tracking")
            else ""
        )
        if r.get("tracking_number"):
            valid = "check digit ok" if r.get("tracking_valid") else "check digit fails"
            facts.append(
                f'tracking: <span class="mono">{escape(str(r["tracking_number"]))}</span> '
                f"({escape(str(r.get('carrier') or '?'))}, {valid}){'; ' + want if want else ''}"
            )
        else:
            facts.append(f"tracking: not read{'; ' + want if want else ''}")
    lines = r.get("lines") or []
    read = "".join(
        f'<li title="{float(ln["confidence"]):.3f}"><span style="color:{confidence_color(float(ln["confidence"]))}">'
        f"●</span> {escape(str(ln['text']))}</li>"
        for ln in lines[:40]
    )
    read_html = f"<ol>{read}</ol>" if read else ""
    return (
        f'<div class="card"><div class="img">{image}</div><div class="body">{"<br>".join(facts)}'
        f"{_uri_line(r.get('resolved_uri') or r.get('image_uri'))}{read_html}</div></div>"
    )


def _gallery_section(items: list[GalleryItem], thumbs: list[str | Exception]) -> str:
    if not items:
        return '<section id="gallery"><h2>Photos worth a look</h2><p class="muted">Nothing to show.</p></section>'
    cards = "".join(_card(i, t) for i, t in zip(items, thumbs, strict=True))
    legend = " ".join(
        f'<span style="color:{confidence_color(c)}">■</span> {label}'
        for c, label in ((0.95, "≥ 0.9"), (0.8, "0.7–0.9"), (0.5, "< 0.7"))
    )
    return (
        f'<section id="gallery"><h2>Photos worth a look</h2><p class="muted">Errors, mismatches, unreadable labels, '
        f"then the lowest-confidence reads. Boxes are the lines detected, coloured by confidence: {legend}.</p>"
        f'<div class="gallery">{cards}</div></section>'
    )


def page(
    s: DaySummary,
    gallery: list[GalleryItem],
    thumbs: list[str | Exception],
    mismatch_table: tuple[list[str], list[tuple[Any, ...]]],
) -> str:
    """The whole report page as a string."""
    runs = ", ".join(s.run_ids) or "–"
    meta = (
        f"run {escape(runs)} · model set {escape(', '.join(s.model_sets) or '–')} on "
        f"{escape(', '.join(s.providers) or '–')} · {s.workers} worker(s)"
    )
    record = escape(redact(json.dumps(s.success, indent=2, default=str))) if s.success else "–"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>podocr report {escape(s.date)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>podocr run report · {escape(s.date)}</h1><p>{meta}</p></header><main>"
        f"{_kpis(s)}{_status_section(s)}{_throughput_section(s)}{_stages_section(s)}{_confidence_section(s)}"
        f"{_verification_section(s, mismatch_table)}{_tracking_section(s)}{_gallery_section(gallery, thumbs)}"
        f'<section id="run"><h2>Run record (<code>_SUCCESS</code>)</h2><pre>{record}</pre></section>'
        f"</main><footer>Generated by podocr {escape(_version())} at {generated}. "
        f"Self-contained: no network assets.</footer></body></html>"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("podocr")
    except PackageNotFoundError:
        return "dev"
