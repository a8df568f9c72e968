"""Per-photo error codes: a bad photo becomes one error row with a code and message, never a crashed partition."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"  # the object/file does not exist
    ACCESS_DENIED = "access_denied"  # storage refused us (403, permissions)
    URI_NOT_ALLOWED = (
        "uri_not_allowed"  # outside the configured images roots, bad scheme, traversal, symlink out
    )
    TOO_LARGE = "too_large"  # bytes over io.max_bytes, or pixels/sides over the decompression-bomb limits
    EMPTY_FILE = "empty_file"  # zero bytes
    UNSUPPORTED_FORMAT = "unsupported_format"  # recognisable but not an image format we decode (HEIC, HTML…)
    DECODE_FAILED = "decode_failed"  # truncated/corrupt image data
    FETCH_FAILED = "fetch_failed"  # storage errors that persisted through retries (5xx, resets, timeouts)
    TIMEOUT = "timeout"  # fetch, decode or OCR of this photo ran past job.photo_timeout_s (then abandoned)
    OCR_FAILED = "ocr_failed"  # the models raised on this photo
    INTERNAL = "internal"  # a bug: anything else, with the exception type in the message


class PhotoError(Exception):
    """Raised by fetch/decode/OCR for one photo; the job turns it into an `error` row."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
