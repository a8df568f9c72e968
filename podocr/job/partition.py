"""One partition's work: manifest rows → fetch → decode → OCR → extract → one output row per photo → a part file.

The same functions run inside a Dask task and in the plain in-process path (`--scheduler synchronous`). A photo
never fails its partition: every per-photo exception becomes an `error` row with a code. What does fail a
partition (its manifest slice or part file cannot be read/written, models cannot load) is raised so that Dask
retries the whole partition; the part's deterministic name makes the retry overwrite, never duplicate.

Fetching and decoding run on a producer thread (fetch_many's threads underneath) while the calling thread runs
OCR on batches of `job.ocr_batch_size` photos, so I/O and inference overlap.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from podocr.config import PodocrConfig
from podocr.io import manifest as manifest_io
from podocr.io import sink
from podocr.io.errors import ErrorCode, PhotoError
from podocr.io.storage import ImageStore, open_fs
from podocr.job.cache import get_pipeline
from podocr.logs import log_context, redact

log = logging.getLogger(__name__)
_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class JobContext:
    """Everything a partition task needs — small and picklable: config and URIs, never models or clients."""

    cfg: PodocrConfig
    run_id: str
    date: str
    staging_uri: str  # the run's staging folder (parts land here)
    manifest_uri: str  # the staged manifest: one row group per partition
    images_root: str
    intra_op_threads: int | None = None


SUMMARY_META = pd.DataFrame(
    {
        "partition": pd.Series([], dtype="int64"),
        "rows": pd.Series([], dtype="int64"),
        "ok": pd.Series([], dtype="int64"),
        "no_text": pd.Series([], dtype="int64"),
        "error": pd.Series([], dtype="int64"),
        "seconds": pd.Series([], dtype="float64"),
        "worker": pd.Series([], dtype="object"),
    }
)


# ---- the two task functions (Dask DataFrame: from_map → map_partitions) -----------------------------------------
def load_rows(index: int, ctx: JobContext) -> pd.DataFrame:
    """Partition `index` of the staged manifest, with its `partition` number attached."""
    table = manifest_io.read_partition(ctx.manifest_uri, index, ctx.cfg.io)
    frame = table.to_pandas()
    frame["partition"] = index
    return frame


def process_frame(frame: pd.DataFrame, ctx: JobContext) -> pd.DataFrame:
    """Process one partition's rows and write its part; returns a one-row summary (rows go to storage, not back)."""
    index = int(frame["partition"].iloc[0])
    started = time.perf_counter()
    with log_context(run_id=ctx.run_id, partition=index):
        records = [
            {str(k): v for k, v in r.items()} for r in frame.drop(columns=["partition"]).to_dict("records")
        ]
        table = process_rows(records, ctx, index)
        fs, folder = open_fs(ctx.staging_uri, ctx.cfg.io)
        sink.write_parquet_atomic(fs, table, f"{folder}/{sink.part_name(index)}")
        statuses = table.column("status").to_pylist()
        summary = {
            "partition": index,
            "rows": table.num_rows,
            "ok": statuses.count("ok"),
            "no_text": statuses.count("no_text"),
            "error": statuses.count("error"),
            "seconds": time.perf_counter() - started,
            "worker": worker_name(),
        }
        log.info("partition done: %(rows)d rows (%(ok)d ok, %(error)d error) in %(seconds).1fs", summary)
    return pd.DataFrame([summary]).astype(SUMMARY_META.dtypes.to_dict())


def run_partition(index: int, ctx: JobContext) -> pd.DataFrame:
    """The in-process path: exactly what the Dask graph runs for one partition."""
    return process_frame(load_rows(index, ctx), ctx)


def warm_up(ctx: JobContext) -> dict[str, Any]:
    """Load this process's pipeline now (fail fast on missing models) and report what it loaded."""
    info = dict(get_pipeline(ctx.cfg, ctx.intra_op_threads).info())
    info["worker"] = worker_name()
    return info


def provider_of(info: Mapping[str, Any]) -> str | None:
    """One string for the `provider` column: the engines' providers, de-duplicated (det/rec/cls usually agree)."""
    providers = info.get("providers") or {}
    names = sorted({str(v) for v in providers.values()}) if isinstance(providers, Mapping) else []
    return ",".join(names) or info.get("provider")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- per photo ------------------------------------------------------------------------------------------------
def process_rows(rows: list[dict[str, Any]], ctx: JobContext, partition: int) -> pa.Table:
    """Exactly one output row per input row, in input order."""
    from podocr.extract import Expected, extract_photo
    from podocr.io.decode import decode_image
    from podocr.io.fetch import fetch_many

    cfg = ctx.cfg
    pipeline = get_pipeline(cfg, ctx.intra_op_threads)
    info = pipeline.info()
    common = {
        "run_id": ctx.run_id,
        "model_set": info.get("model_set"),
        "model_versions": dict(info.get("sha256") or {}),
        "provider": provider_of(info),
        "partition": partition,
        "worker": worker_name(),
    }
    out: list[dict[str, Any] | None] = [None] * len(rows)

    def base(i: int) -> dict[str, Any]:
        row = rows[i]
        return {**common, **{k: _clean(row.get(k)) for k in ("delivery_id", "image_uri", *sink.EXPECTED)}}

    def fail(i: int, code: ErrorCode, message: str, timings: Mapping[str, float] | None = None) -> None:
        out[i] = _finish(base(i), timings or {}, status="error", error_code=str(code), error_message=message)

    store = _TimedStore(ImageStore(cfg.io, ctx.images_root))
    uris = [str(row.get("image_uri") or "") for row in rows]

    def decoded_photos() -> Iterator[tuple[int, Any, dict[str, float]]]:
        # fetch_many resolves each URI inside the images roots (URI_NOT_ALLOWED otherwise) and reads it.
        for i, item in fetch_many(store, uris, max(1, cfg.io.fetch_threads)):
            timings = {"fetch_s": store.seconds.pop(uris[i], 0.0)}
            if isinstance(item, BaseException):
                yield i, item, timings
                continue
            t0 = time.perf_counter()
            try:
                photo: Any = decode_image(item, cfg.io)
            except Exception as exc:  # PhotoError, or a decoder bug → INTERNAL below
                photo = exc
            timings["decode_s"] = time.perf_counter() - t0
            yield i, photo, timings

    batch: list[tuple[int, Any, dict[str, float]]] = []

    def run_batch() -> None:
        images = [photo.image for _, photo, _ in batch]
        try:
            pages = pipeline.run_safe(images)
        except Exception:  # a batch-level bug: isolate it photo by photo rather than fail them all
            pages = [_run_one(pipeline, image) for image in images]
        for (i, photo, timings), page in zip(batch, pages, strict=True):
            if isinstance(page, PhotoError):
                fail(i, page.code, page.message, timings)
                continue
            if isinstance(page, BaseException):
                fail(i, ErrorCode.OCR_FAILED, _describe(page), timings)
                continue
            try:
                t0 = time.perf_counter()
                extraction, timings["barcode_s"] = extract_photo(
                    photo.image, page, Expected.from_row(rows[i]), cfg
                )
                timings["extract_s"] = time.perf_counter() - t0 - timings["barcode_s"]
                out[i] = _ok_row(base(i), photo, page, extraction, timings)
            except Exception as exc:
                fail(i, ErrorCode.INTERNAL, _describe(exc), timings)
        batch.clear()

    # One batch decoded ahead: enough to keep OCR busy, bounded so 12 MP photos do not pile up in memory.
    for i, photo, timings in _prefetched(decoded_photos(), depth=max(1, cfg.job.ocr_batch_size)):
        if isinstance(photo, PhotoError):
            fail(i, photo.code, photo.message, timings)
        elif isinstance(photo, BaseException):
            fail(i, ErrorCode.INTERNAL, _describe(photo), timings)
        else:
            batch.append((i, photo, timings))
            if len(batch) >= cfg.job.ocr_batch_size:
                run_batch()
    if batch:
        run_batch()
    missing = [i for i, row in enumerate(out) if row is None]
    if missing:  # a bug in this function, not in a photo: fail loudly so nothing is silently dropped
        raise RuntimeError(
            f"partition {partition}: {len(missing)} rows produced no output (first {missing[:5]})"
        )
    return sink.rows_to_table([row for row in out if row is not None])


def _run_one(pipeline: Any, image: Any) -> Any:
    try:
        return pipeline.run_safe([image])[0]
    except Exception as exc:
        return exc


def _ok_row(
    row: dict[str, Any], photo: Any, page: Any, extraction: Any, timings: dict[str, float]
) -> dict[str, Any]:
    lines = [
        {
            "text": ln.text,
            "confidence": float(ln.confidence),
            "quad": [[float(x), float(y)] for x, y in ln.quad],
        }
        for ln in page.lines
    ]
    for stage in ("roi", "det", "crop", "cls", "rec"):
        value = page.timings.get(stage, page.timings.get(f"{stage}_s"))
        if value is not None:
            timings[f"{stage}_s"] = float(value)
    confidences = [line["confidence"] for line in lines]
    row.update(
        image_sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        format=photo.format,
        exif_orientation=getattr(photo, "exif_orientation", None),
        lines=lines,
        full_text=page.full_text,
        n_lines=len(lines),
        mean_confidence=sum(confidences) / len(confidences) if confidences else None,
        rotation=page.rotation,
        roi=list(page.roi) if page.roi is not None else None,
        tracking_number=extraction.tracking_number,
        carrier=extraction.carrier,
        tracking_valid=extraction.tracking_valid,
        tracking_repaired=extraction.tracking_repaired,
        recipient_name=extraction.recipient_name,
        recipient_company=extraction.recipient_company,
        street=extraction.street,
        unit=extraction.unit,
        city=extraction.city,
        state=extraction.state,
        zip=extraction.zip,
        verification=extraction.verification,
        verification_reason=extraction.verification_reason,
        address_match_score=extraction.address_match_score,
        field_scores={k: float(v) for k, v in (extraction.field_scores or {}).items()},
        **{k: getattr(extraction, k) for k in sink.EXTRACTION_EXTRA},
    )
    return _finish(row, timings, status="ok" if lines else "no_text")


def _finish(row: dict[str, Any], timings: Mapping[str, float], **fields: Any) -> dict[str, Any]:
    row.update(fields)
    if row.get("error_message"):
        row["error_message"] = redact(str(row["error_message"]))[:_MESSAGE_CHARS]
    stages = {k: float(v) for k, v in timings.items() if k in sink.TIMINGS}
    row.update(stages)
    row["total_s"] = sum(stages.values()) if stages else None
    row["processed_at"] = dt.datetime.now(dt.UTC)
    return row


def _describe(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, PhotoError) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _clean(value: Any) -> str | None:
    """Manifest cells as strings; pandas may hand us NaN/None/pd.NA for empty ones."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


class _TimedStore:
    """An ImageStore that records how long each fetch took (fetch_s), for the per-photo timings."""

    def __init__(self, store: ImageStore) -> None:
        self._store = store
        self.seconds: dict[str, float] = {}

    def fetch(self, uri: str) -> bytes:
        t0 = time.perf_counter()
        try:
            return self._store.fetch(uri)
        finally:
            self.seconds[uri] = time.perf_counter() - t0


_END = object()


def _prefetched(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run `items` on a background thread, at most `depth` ahead: decoding overlaps the caller's inference."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # surfaced on the caller's thread: the partition fails and is retried
            failure.append(exc)
        finally:
            while True:
                try:
                    buffer.put(_END, timeout=0.2)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    thread = threading.Thread(target=produce, name="podocr-prefetch", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _END:
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
    if failure:
        raise failure[0]
