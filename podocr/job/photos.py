"""A partition's photos as one chain: fetch → decode → batch → read → row, exactly one row per manifest row.

Each step is a generator of `Photo`s, so the order of work reads top to bottom in `PhotoChain.table`. Fetching
runs on fetch_many's threads and decoding on a producer thread, while the calling thread OCRs batches of
`job.ocr_batch_size` (with batch threads: each photo on one of them), so I/O and inference overlap. A photo that
fails at any step leaves the chain as an error row with a code, never as a crashed partition; each step of each
photo has `job.photo_timeout_s` before the photo becomes a `timeout` row and the stuck call is abandoned
(counted in `stuck_threads` so the driver can restart the worker). What does fail the partition (too many
stuck reads, a bug that loses a row) is raised.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from podocr.io import sink
from podocr.io.errors import ErrorCode, PhotoError
from podocr.job.deadline import DeadlineExceeded, call_with_deadline
from podocr.job.rows import RowMaker, describe

log = logging.getLogger(__name__)


@dataclass
class Photo:
    """One manifest row on its way through the chain: bytes, then a decoded image, or the error that ended it."""

    index: int
    timings: dict[str, float] = field(default_factory=dict)
    data: bytes | None = None
    image: Any = None  # io.decode.DecodedImage, or ocr.device.decode.DeviceImage (device read path)
    error: tuple[ErrorCode, str] | None = None


class PhotoChain:
    """The rows of one partition. `pipeline` is anything with `run_safe(images) -> [page | exception]`."""

    def __init__(
        self, cfg: Any, store: Any, rows: list[dict[str, Any]], maker: RowMaker, pipeline: Any
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.uris = [str(row.get("image_uri") or "") for row in rows]
        self.rows = rows
        self.maker = maker
        self.pipeline = pipeline
        self.timeout_s = float(cfg.job.photo_timeout_s)
        self.out: list[dict[str, Any] | None] = [None] * len(rows)
        self.abandoned: list[threading.Thread] = []

    def table(self) -> pa.Table:
        threads = self.cfg.engine.batch_threads
        # with batch threads each photo is read on one of them, and a few decoded ahead keep them all busy;
        # without, the next batch is decoded while this one is read
        ahead = threads if threads > 1 else self.cfg.job.ocr_batch_size
        photos = prefetched(self.decoded(self.fetched()), depth=max(1, ahead))
        if threads > 1:
            self.read_concurrently(self.batches(photos, size=1), threads)
        else:
            for batch in self.batches(photos):
                self.read(batch)
        missing = [i for i, row in enumerate(self.out) if row is None]
        if missing:  # a bug in the chain, not in a photo: fail loudly so nothing is silently dropped
            raise RuntimeError(f"{len(missing)} rows produced no output (first {missing[:5]})")
        return sink.rows_to_table([row for row in self.out if row is not None])

    def stuck_threads(self) -> int:
        """Calls abandoned past their time limit that are still running now."""
        return sum(1 for t in self.abandoned if t.is_alive())

    # ---- the steps --------------------------------------------------------------------------------------------
    def fetched(self) -> Iterator[Photo]:
        """Each URI resolved inside the images roots (URI_NOT_ALLOWED otherwise) and read, in completion order."""
        from podocr.io.fetch import fetch_many

        threads = max(1, self.cfg.io.fetch_threads)
        for item in fetch_many(
            self.store, self.uris, threads, timeout_s=self.timeout_s, abandoned=self.abandoned
        ):
            photo = Photo(item.position, {"fetch_s": item.seconds})
            if isinstance(item.result, PhotoError):
                photo.error = (item.result.code, item.result.message)
            else:
                photo.data = item.result
            yield photo

    def decoded(self, photos: Iterable[Photo]) -> Iterator[Photo]:
        decode = self._decoder()
        for photo in photos:
            if photo.data is not None:
                data, photo.data = photo.data, None
                t0 = time.perf_counter()
                try:
                    photo.image = self._limited(lambda d=data: decode(d), "decode")
                except PhotoError as exc:
                    photo.error = (exc.code, exc.message)
                except Exception as exc:  # a decoder bug: this photo only
                    photo.error = (ErrorCode.INTERNAL, describe(exc))
                photo.timings["decode_s"] = time.perf_counter() - t0
            yield photo

    def _decoder(self) -> Any:
        """bytes → decoded image: the host decoder, or, when the pipeline reads on a device (engine.device_ops),
        the device decoder (ocr/device/decode.py), which hands back the host decoder's result for what it does
        not take. Without torchvision's decoder the host one is used."""
        from podocr.io.decode import decode_image

        reader = getattr(self.pipeline, "device", None)
        if reader is not None:
            try:
                from podocr.ocr.device.decode import decode_one
            except ImportError as exc:
                log.warning("device decoding unavailable (%s): decoding on the host", exc)
            else:
                return lambda d: decode_one(d, self.cfg.io, reader.device)
        return lambda d: decode_image(d, self.cfg.io)

    def batches(self, photos: Iterable[Photo], size: int = 0) -> Iterator[list[Photo]]:
        """Decoded photos in batches of `size` (default `job.ocr_batch_size`); photos that already failed become
        rows here."""
        size = max(1, size or self.cfg.job.ocr_batch_size)
        batch: list[Photo] = []
        for photo in photos:
            if photo.error is not None:
                self.out[photo.index] = self.maker.error(photo.index, *photo.error, photo.timings)
                continue
            batch.append(photo)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def read(self, batch: list[Photo]) -> None:
        """OCR a batch (each photo alone if the batch runs past its limit), then extract and make the rows."""
        from podocr.extract import Expected, extract_photo

        images = [photo.image.image for photo in batch]
        pages: list[Any]
        try:
            pages = self._limited(lambda: self.pipeline.run_safe(images), "ocr", len(images))
        except DeadlineExceeded:  # find the photo that hangs; the others still get read
            pages = [self._read_one(image) for image in images]
        for photo, page in zip(batch, pages, strict=True):
            i, timings = photo.index, photo.timings
            if isinstance(page, DeadlineExceeded):
                self.out[i] = self.maker.error(i, ErrorCode.TIMEOUT, f"OCR: {page}", timings)
            elif isinstance(page, BaseException):  # run_safe hands back a photo's exception in its slot
                self.out[i] = self.maker.error(i, ErrorCode.OCR_FAILED, describe(page), timings)
            else:
                try:
                    t0 = time.perf_counter()
                    extraction, timings["barcode_s"] = extract_photo(
                        host_pixels(photo.image.image), page, Expected.from_row(self.rows[i]), self.cfg
                    )
                    timings["extract_s"] = time.perf_counter() - t0 - timings["barcode_s"]
                    self.out[i] = self.maker.read(i, photo.image, page, extraction, timings)
                except Exception as exc:
                    self.out[i] = self.maker.error(i, ErrorCode.INTERNAL, describe(exc), timings)

    def read_concurrently(self, batches: Iterable[list[Photo]], threads: int) -> None:
        """`read` each batch on one of `threads` threads, one batch waiting at most (photo-sized memory).

        With batch threads (`engine.batch_threads` > 1, the CPU default) each photo is its own batch and goes
        through OCR, barcode scan and extraction on one thread while the others read other photos: no thread
        waits at the end of a batch for the slowest photo, and the scan and extraction, which would otherwise run
        on one thread after each batch, are spread over all of them. A failure of the chain itself (not of a
        photo: those are rows) stops the partition, which is then retried."""
        with ThreadPoolExecutor(threads, thread_name_prefix="podocr-read") as pool:
            pending: set[Future[None]] = set()
            try:
                for batch in batches:
                    if len(pending) >= threads + 1:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    pending.add(pool.submit(self.read, batch))
                for future in pending:
                    future.result()
            finally:
                for future in pending:
                    future.cancel()

    # ---- time limits ------------------------------------------------------------------------------------------
    def _read_one(self, image: Any) -> Any:
        try:
            return self._limited(lambda: self.pipeline.run_safe([image])[0], "ocr")
        except DeadlineExceeded as exc:
            return exc

    def _limited(self, fn: Any, what: str, photos: int = 1) -> Any:
        try:
            return call_with_deadline(fn, self.timeout_s * photos, what)
        except DeadlineExceeded as exc:
            self.abandoned.append(exc.thread)
            if what == "decode":
                raise PhotoError(ErrorCode.TIMEOUT, str(exc)) from None
            raise


_END = object()


def host_pixels(image: Any) -> Any:
    """The photo's pixels as numpy: a device-decoded photo (a torch tensor) is copied back for the barcode
    decoder, which runs on the host."""
    return image.cpu().numpy() if hasattr(image, "cpu") else image


def prefetched(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run `items` on a background thread, at most `depth` ahead: decoding overlaps the caller's inference."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # surfaced on the caller's thread: the partition fails and is retried
            failure.append(exc)
        finally:
            put(_END)

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
