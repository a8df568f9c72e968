"""Small inline-SVG charts for the report: horizontal bars, stacked bars, histograms and a time series.

Drawn by hand rather than with matplotlib so the report needs no plotting stack at run time (the job's
workers install only core dependencies), stays crisp at any zoom, and is a few KB per chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#2f6fb0", "#e0892b", "#3a9a5b", "#c4453c", "#7d5ba6", "#8c6d4f", "#d16ba5", "#6f7b87")
STATUS_COLORS = {"ok": "#3a9a5b", "no_text": "#e0b12b", "error": "#c4453c"}
VERIFY_COLORS = {"match": "#3a9a5b", "mismatch": "#c4453c", "unreadable": "#e0b12b", "not checked": "#9aa4ad"}
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"'


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {_FONT} font-size="12">'
        f"<title>{escape(title)}</title>"
    )


def _ticks(value: float, target: int = 4) -> tuple[float, float]:
    """(axis max, tick step): a 1/2/5 × 10^k step giving about `target` ticks that cover `value`."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / target
    exp = 10 ** math.floor(math.log10(raw))
    step = next(m * exp for m in (1, 2, 5, 10) if m * exp >= raw)
    if value >= 1 and step < 1:
        step = 1.0
    return step * math.ceil(value / step - 1e-9), step


def hbar(
    items: Sequence[tuple[str, float]],
    title: str,
    colors: dict[str, str] | None = None,
    width: int = 520,
    value_fmt: Callable[[float], str] = _fmt,
) -> str:
    """Horizontal bars, one per (label, value), value printed at the bar's end."""
    if not items:
        return empty(title, width)
    row, label_w, pad = 24, min(200, 16 + 7 * max(len(lbl) for lbl, _ in items)), 8
    plot_w = width - label_w - 70
    height = pad * 2 + row * len(items)
    top = max((v for _, v in items), default=0) or 1
    out = [_open(width, height, title)]
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = max(1.0, plot_w * value / top) if value > 0 else 0
        color = (colors or {}).get(label, PALETTE[i % len(PALETTE)])
        out.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" fill="#333">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" rx="2" fill="{color}">'
            f"<title>{escape(label)}: {escape(value_fmt(value))}</title></rect>"
            f'<text x="{label_w + w + 5:.1f}" y="{y + 16}" fill="#333">{escape(value_fmt(value))}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def stacked_hbar(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    colors: dict[str, str] | None = None,
    width: int = 560,
) -> str:
    """One horizontal bar per category, split into `series` (e.g. valid / repaired / invalid), with a legend."""
    if not categories:
        return empty(title, width)
    row, label_w, legend_h = 26, 110, 24
    plot_w = width - label_w - 60
    height = legend_h + 8 + row * len(categories)
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(categories))]
    top = max(totals) or 1
    color = {n: (colors or {}).get(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)}
    out = [_open(width, height, title)]
    x = label_w
    for n in names:
        out.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{color[n]}"/>'
            f'<text x="{x + 16}" y="16" fill="#333">{escape(n)}</text>'
        )
        x += 28 + 7 * len(n)
    for i, cat in enumerate(categories):
        y = legend_h + 4 + i * row
        out.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" fill="#333">{escape(cat)}</text>')
        x0 = float(label_w)
        for n in names:
            v = series[n][i]
            if v <= 0:
                continue
            w = plot_w * v / top
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{color[n]}">'
                f"<title>{escape(cat)} {escape(n)}: {_fmt(v)}</title></rect>"
            )
            x0 += w
        out.append(f'<text x="{x0 + 5:.1f}" y="{y + 16}" fill="#333">{_fmt(totals[i])}</text>')
    out.append("</svg>")
    return "".join(out)


def columns(
    values: Sequence[float],
    title: str,
    x_labels: Sequence[str] = (),
    x_title: str = "",
    y_title: str = "",
    width: int = 560,
    height: int = 220,
    color: str = PALETTE[0],
    bar_titles: Sequence[str] = (),
    line: Sequence[float] = (),
    line_title: str = "",
) -> str:
    """Vertical bars over ordered bins (histograms, photos per time bin) with a y axis and sparse x labels.

    `line` (one value per bin end, e.g. a running total) is drawn over the bars against its own right axis.
    """
    if not values:
        return empty(title, width)
    left, right, top_pad, bottom = 48, 56 if line else 12, 10, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    ymax, ystep = _ticks(max(values))
    n = len(values)
    bw = plot_w / n
    out = [_open(width, height, title)]
    for k in range(round(ymax / ystep) + 1):  # gridlines + y ticks
        yv = ystep * k
        y = top_pad + plot_h - plot_h * yv / ymax
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
            f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" fill="#666" font-size="11">{_fmt(yv)}</text>'
        )
    for i, v in enumerate(values):
        h = plot_h * v / ymax
        x = left + i * bw
        tip = bar_titles[i] if i < len(bar_titles) else _fmt(v)
        out.append(
            f'<rect x="{x + 0.5:.1f}" y="{top_pad + plot_h - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(tip)}</title></rect>'
        )
    if x_labels:
        step = next(s for s in (1, 2, 4, 5, 10, 20, 25, 50, 100, 10**9) if len(x_labels) / s <= 9)
        for i in range(0, len(x_labels), step):
            x = left + i * bw if len(x_labels) > n else left + (i + 0.5) * bw
            out.append(
                f'<text x="{x:.1f}" y="{top_pad + plot_h + 15}" text-anchor="middle" fill="#666" '
                f'font-size="11">{escape(x_labels[i])}</text>'
            )
    out.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" stroke="#999"/>'
    )
    if line:
        out.append(_overlay(line, line_title, left, top_pad, plot_w, plot_h, bw))
    if x_title:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#444">{escape(x_title)}</text>'
        )
    if y_title:
        out.append(
            f'<text transform="translate(12 {top_pad + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
            f'fill="#444">{escape(y_title)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _overlay(
    line: Sequence[float], title: str, left: float, top: float, plot_w: float, plot_h: float, bw: float
) -> str:
    """A step-free polyline from the origin through each bin's end value, with a right-hand axis."""
    lmax, lstep = _ticks(max(line))
    points = [(left, top + plot_h)] + [
        (left + (i + 1) * bw, top + plot_h - plot_h * v / lmax) for i, v in enumerate(line)
    ]
    out = [
        f'<polyline fill="none" stroke="{PALETTE[1]}" stroke-width="2" '
        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}"><title>{escape(title)}</title></polyline>'
    ]
    x_axis = left + plot_w
    for k in range(round(lmax / lstep) + 1):
        v = lstep * k
        y = top + plot_h - plot_h * v / lmax
        out.append(
            f'<text x="{x_axis + 5:.1f}" y="{y + 4:.1f}" fill="{PALETTE[1]}" font-size="11">{_fmt(v)}</text>'
        )
    out.append(
        f'<text transform="translate({x_axis + 48:.1f} {top + plot_h / 2:.1f}) rotate(90)" text-anchor="middle" '
        f'fill="{PALETTE[1]}">{escape(title)}</text>'
    )
    return "".join(out)


def histogram(counts: Sequence[int], title: str, lo: float = 0.0, hi: float = 1.0, **kwargs: object) -> str:
    """`columns` over `len(counts)` equal-width bins of [lo, hi] (binned by the caller, e.g. in SQL)."""
    bins = len(counts)
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    labels = [f"{e:g}" for e in edges]
    tips = [f"{edges[i]:.2f}–{edges[i + 1]:.2f}: {counts[i]:,}" for i in range(bins)]
    return columns(counts, title, x_labels=labels, bar_titles=tips, **kwargs)  # type: ignore[arg-type]


def empty(title: str, width: int = 520, message: str = "no data") -> str:
    return _open(width, 40, title) + f'<text x="8" y="24" fill="#888">{escape(message)}</text></svg>'
