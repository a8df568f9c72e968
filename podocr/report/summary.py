"""What the report says about one day, computed in DuckDB over the `results` view (see data.py).

`load_day` reads the day's parts once into a DuckDB table of the columns the report needs (each line's text
reduced to its confidence), and every section aggregates that table: over S3 the parts are fetched once, not
once per section. Only the handful of gallery rows come back whole, their lines read from the view by delivery
id in one more scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from podocr.io.sink import TIMINGS
from podocr.report.data import VIEW

CONF_BINS = 20
# Candidate bin widths for the throughput chart: the smallest giving ≤ MAX_BINS bins over the run is used.
BIN_CHOICES_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_BINS = 40
NOT_CHECKED = "not checked"
# A reason's kind: its first clause without the photo's own values ("tracking 1Z…≠1Z…" → "tracking …≠…"), so
# the table counts kinds of disagreement instead of listing every photo (extract/verify.py writes the reasons).
REASON_KIND = (
    "trim(regexp_replace(regexp_replace(split_part(verification_reason, ';', 1), '\\s*\\([^)]*\\)', '', 'g'), "
    "'[0-9A-Z][0-9A-Z.-]{3,}', '…', 'g'))"
)
NO_TRACKING = "none found"
GALLERY_ROW_COLUMNS = (
    "delivery_id, image_uri, status, error_code, error_message, width, height, n_lines, mean_confidence, "
    "tracking_number, carrier, tracking_valid, tracking_repaired, verification, verification_reason, "
    "address_match_score, expected_tracking, expected_zip, zip, recipient_name, street, city, state"
)
DAY_TABLE = "report_day"
# Every column any section reads, besides the gallery's (the whole `lines` column never enters the table).
_SUMMARY_COLUMNS = ("run_id", "model_set", "provider", "worker", "processed_at", *TIMINGS)


@dataclass
class StageTime:
    stage: str
    total_s: float
    mean_s: float
    p50_s: float
    p95_s: float


@dataclass
class CarrierTracking:
    carrier: str
    valid: int
    repaired: int  # valid only after a one-character repair (counted in `valid` too)
    invalid: int


@dataclass
class DaySummary:
    date: str
    total: int
    run_ids: list[str]
    model_sets: list[str]
    providers: list[str]
    workers: int
    status: dict[str, int]
    error_codes: list[tuple[str, int, str]]  # code, count, one example message
    start_at: str | None  # the run's start (or its first finished photo when the start is unknown)
    last_at: str | None
    span_s: float
    bin_s: int
    per_bin: list[int]  # photos finished in each bin, from start_at
    stages: list[StageTime]
    photo_conf_hist: list[int]
    line_conf_hist: list[int]
    mean_confidence: float | None
    n_lines: int
    verification: dict[str, int]
    verification_reasons: list[tuple[str, int]]
    carriers: list[CarrierTracking]
    tracking_found: int
    tracking_valid: int
    success: dict[str, Any] = field(default_factory=dict)

    @property
    def photos_per_min(self) -> float | None:
        """Throughput over the run: from `_SUCCESS` when the job recorded it, else from processed_at."""
        for key in ("photos_per_min", "throughput_per_min"):
            if isinstance(self.success.get(key), int | float):
                return float(self.success[key])
        throughput = self.success.get("throughput")
        if isinstance(throughput, dict) and isinstance(throughput.get("photos_per_min"), int | float):
            return float(throughput["photos_per_min"])
        if self.span_s > 0:
            return self.total * 60.0 / self.span_s
        return None


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp() if iso else None
    except ValueError:
        return None


def _clock_text(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None  # aggregates without GROUP BY always return one row
    return row


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in con.execute(sql).fetchall()]


def _hist(con: duckdb.DuckDBPyConnection, expr: str, source: str) -> list[int]:
    counts = [0] * CONF_BINS
    rows = con.execute(
        f"SELECT least({CONF_BINS - 1}, greatest(0, floor(({expr}) * {CONF_BINS})))::INT AS b, count(*) "
        f"FROM {source} WHERE ({expr}) IS NOT NULL GROUP BY b"
    ).fetchall()
    for b, n in rows:
        counts[int(b)] = int(n)
    return counts


def load_day(con: duckdb.DuckDBPyConnection, date: str) -> str:
    """Read `date`'s rows once into the table the report's sections aggregate; returns the table's name."""
    gallery = [c.strip() for c in GALLERY_ROW_COLUMNS.split(",")]
    columns = ", ".join(dict.fromkeys([*gallery, *_SUMMARY_COLUMNS]))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {DAY_TABLE} AS SELECT {columns}, "
        f"list_transform(lines, lambda ln: ln.confidence) AS line_confidences "
        f"FROM {VIEW} WHERE date = DATE '{date}'"
    )
    return DAY_TABLE


def summarise(
    con: duckdb.DuckDBPyConnection, day: str, date: str, success: dict[str, Any] | None = None
) -> DaySummary:
    """All the report's numbers for `date` from `day`, its table made by `load_day`."""
    total, run_ids, model_sets, providers, workers, first_epoch, last_epoch = _one(
        con,
        f"SELECT count(*), list_sort(list(DISTINCT run_id)), list_sort(list(DISTINCT model_set)), "
        f"list_sort(list(DISTINCT provider)), count(DISTINCT worker), "
        f"epoch(min(processed_at)), epoch(max(processed_at)) FROM {day}",
    )
    # The clock starts when the run started (from `_SUCCESS`), not when its first partition finished.
    origin = _epoch((success or {}).get("started_at"))
    if first_epoch is not None and (origin is None or origin > first_epoch or first_epoch - origin > 86_400):
        origin = float(first_epoch)
    span_s = float(last_epoch) - origin if last_epoch is not None and origin is not None else 0.0
    bin_s = next((b for b in BIN_CHOICES_S if span_s / b <= MAX_BINS), BIN_CHOICES_S[-1])
    per_bin = [0] * (int(span_s // bin_s) + 1)
    if origin is not None:
        for b, n in con.execute(
            f"SELECT floor((epoch(processed_at) - {origin!r}) / {bin_s})::INT AS b, count(*) FROM {day} GROUP BY b"
        ).fetchall():
            per_bin[min(max(int(b), 0), len(per_bin) - 1)] += int(n)

    stages = []
    for col in (t for t in TIMINGS if t != "total_s"):
        tot, mean, p50, p95 = _one(
            con,
            f"SELECT sum({col}), avg({col}), quantile_cont({col}, 0.5), quantile_cont({col}, 0.95) FROM {day}",
        )
        if tot is not None:
            stages.append(StageTime(col.removesuffix("_s"), float(tot), float(mean), float(p50), float(p95)))

    lines_src = (
        f"(SELECT unnest(line_confidences) AS confidence FROM {day} WHERE line_confidences IS NOT NULL)"
    )
    mean_conf, n_lines = _one(
        con, f"SELECT avg(mean_confidence), coalesce(sum(n_lines), 0) FROM {day} WHERE status = 'ok'"
    )
    carriers = [
        CarrierTracking(str(c), int(v), int(r), int(n - v))
        for c, v, r, n in _pairs(
            con,
            f"SELECT carrier, count(*) FILTER (tracking_valid), count(*) FILTER (tracking_valid AND tracking_repaired), "
            f"count(*) FROM {day} WHERE carrier IS NOT NULL GROUP BY carrier ORDER BY count(*) DESC, carrier",
        )
    ]
    tracking_found, tracking_valid = _one(
        con, f"SELECT count(tracking_number), count(*) FILTER (tracking_valid) FROM {day}"
    )
    return DaySummary(
        date=date,
        total=int(total),
        run_ids=[r for r in run_ids if r],
        model_sets=[m for m in model_sets if m],
        providers=[p for p in providers if p],
        workers=int(workers),
        status={
            str(s): int(n)
            for s, n in _pairs(
                con, f"SELECT status, count(*) FROM {day} GROUP BY status ORDER BY count(*) DESC"
            )
        },
        error_codes=[
            (str(c), int(n), str(m or ""))
            for c, n, m in _pairs(
                con,
                f"SELECT coalesce(error_code, '(none)'), count(*), min(error_message) FROM {day} "
                f"WHERE status = 'error' GROUP BY 1 ORDER BY 2 DESC, 1",
            )
        ],
        start_at=_clock_text(origin),
        last_at=_clock_text(None if last_epoch is None else float(last_epoch)),
        span_s=span_s,
        bin_s=bin_s,
        per_bin=per_bin,
        stages=stages,
        photo_conf_hist=_hist(con, "mean_confidence", f"(SELECT * FROM {day} WHERE status = 'ok')"),
        line_conf_hist=_hist(con, "confidence", lines_src),
        mean_confidence=None if mean_conf is None else float(mean_conf),
        n_lines=int(n_lines),
        verification={
            str(v): int(n)
            for v, n in _pairs(
                con,
                f"SELECT coalesce(verification, '{NOT_CHECKED}'), count(*) FROM {day} GROUP BY 1 ORDER BY 2 DESC",
            )
        },
        verification_reasons=[
            (str(r), int(n))
            for r, n in _pairs(
                con,
                f"SELECT {REASON_KIND}, count(*) FROM {day} WHERE verification IN ('mismatch', 'unreadable') "
                f"AND verification_reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 12",
            )
        ],
        carriers=carriers,
        tracking_found=int(tracking_found),
        tracking_valid=int(tracking_valid),
        success=success or {},
    )


@dataclass
class GalleryItem:
    why: str  # error | mismatch | unreadable | no text | low confidence
    row: dict[str, Any]


def worst_photos(con: duckdb.DuckDBPyConnection, day: str, date: str, limit: int = 24) -> list[GalleryItem]:
    """The photos an analyst should look at first: errors, mismatches, unreadable labels, then lowest confidence.

    Each group is capped so one noisy category cannot crowd out the others; a photo appears once. Chosen from
    `day` (a `load_day` table); their detected lines come from the `results` view in one query.
    """
    groups = (
        ("error", "status = 'error'", "error_code, delivery_id", max(2, limit // 4)),
        (
            "mismatch",
            "verification = 'mismatch'",
            "address_match_score NULLS FIRST, delivery_id",
            max(2, limit // 3),
        ),
        (
            "unreadable",
            "verification = 'unreadable'",
            "mean_confidence NULLS FIRST, delivery_id",
            max(1, limit // 6),
        ),
        ("no text", "status = 'no_text'", "delivery_id", max(1, limit // 8)),
        ("low confidence", "status = 'ok'", "mean_confidence, delivery_id", limit),
    )
    items: list[GalleryItem] = []
    seen: set[str] = set()
    for why, where, order, cap in groups:
        room = min(cap, limit - len(items))
        if room <= 0:
            break
        cur = con.execute(
            f"SELECT {GALLERY_ROW_COLUMNS} FROM {day} WHERE {where} ORDER BY {order} LIMIT {room + len(seen)}"
        )
        names = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            if row["delivery_id"] in seen or room <= 0:
                continue
            seen.add(row["delivery_id"])
            items.append(GalleryItem(why, row))
            room -= 1
    if items:
        lines = dict(
            con.execute(
                f"SELECT delivery_id, lines FROM {VIEW} WHERE date = DATE '{date}' AND list_contains(?, delivery_id)",
                [[item.row["delivery_id"] for item in items]],
            ).fetchall()
        )
        for item in items:
            item.row["lines"] = lines.get(item.row["delivery_id"])
    return items


def mismatches(
    con: duckdb.DuckDBPyConnection, day: str, limit: int = 50
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Header and rows of the mismatch table (expected vs read), worst match score first."""
    cur = con.execute(
        f"SELECT delivery_id, verification_reason AS reason, round(address_match_score::DOUBLE, 2) AS score, "
        f"expected_tracking, tracking_number AS read_tracking, expected_zip, zip AS read_zip, image_uri "
        f"FROM {day} WHERE verification = 'mismatch' "
        f"ORDER BY address_match_score NULLS FIRST, delivery_id LIMIT {int(limit)}"
    )
    return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]
