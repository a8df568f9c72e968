"""Every path the job touches goes through here: local paths, `file://` and `s3://`, via fsspec/s3fs.

Two jobs. `open_fs`/`storage_options` give the rest of the code one way to reach storage with the configured
endpoint and credentials (else the usual AWS environment/config chain). `ImageStore` is the gate for photo
URIs taken from a manifest: a manifest row is untrusted input, so `resolve` confines it to the configured
images roots before anything is opened, and `read_bytes` reads it with a byte limit, error mapping and its own
retry policy, so one bad or slow object becomes one `PhotoError`, never a crashed or hung partition.

Longer than our usual module on purpose: URI confinement and the read path share the parsed roots and the error
classification, and keeping the security-relevant code in one file keeps it reviewable in one sitting.
"""

from __future__ import annotations

import errno
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import fsspec

from podocr.config import IOConfig
from podocr.io.errors import ErrorCode, PhotoError
from podocr.logs import redact

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUERY = re.compile(r"\?.*$", re.DOTALL)
_SHOWN_CHARS = 200  # a URI in an error message is cut to this many characters

# S3 error codes (or HTTP statuses) that mean "try again later", not "this object is bad".
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable", "InternalError"}
)
_DENIED_CODES = frozenset({"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
_TRANSIENT_ERRNOS = frozenset(
    {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE}
    | {getattr(errno, "EREMOTEIO", 121)}
)


def storage_options(io_cfg: IOConfig) -> dict[str, Any]:
    """s3fs keyword arguments from the `io` config; credentials only when set there (else boto's chain)."""
    opts: dict[str, Any] = {
        "anon": io_cfg.s3_anon,
        "config_kwargs": {
            "connect_timeout": io_cfg.connect_timeout_s,
            "read_timeout": io_cfg.read_timeout_s,
            # botocore's pool defaults to 10 connections; fetch threads beyond that would just queue.
            "max_pool_connections": max(10, io_cfg.fetch_threads),
        },
    }
    if io_cfg.s3_endpoint_url:
        opts["endpoint_url"] = io_cfg.s3_endpoint_url
    if io_cfg.aws_access_key_id:
        opts["key"] = io_cfg.aws_access_key_id
    if io_cfg.aws_secret_access_key:
        opts["secret"] = io_cfg.aws_secret_access_key
    return opts


def open_fs(uri: str, io_cfg: IOConfig) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path inside it) for a local path, `file://` or `s3://` URI."""
    is_s3 = uri.lower().startswith(("s3://", "s3a://"))
    fs, path = fsspec.core.url_to_fs(uri, **(storage_options(io_cfg) if is_s3 else {}))
    return fs, path


def redact_uri(uri: str) -> str:
    """A URI fit for an error message: no query string, no `user:pass@`, no control bytes, bounded length."""
    text = redact(_QUERY.sub("?<redacted>", uri))
    text = re.sub(r"(://)[^/@\s]*@", r"\1***@", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + f"…({len(uri)} chars)"


@dataclass(frozen=True)
class _Root:
    """One images root: `bucket` set for S3 (key prefix `parts`), else a local absolute path."""

    bucket: str | None
    parts: tuple[str, ...]

    @property
    def uri(self) -> str:
        if self.bucket is None:
            return "/" + "/".join(self.parts)
        return "s3://" + "/".join((self.bucket, *self.parts))


class ImageStore:
    """Resolves manifest image URIs inside the configured roots and reads them with limits and retries.

    Picklable by design (the Dask job ships one to every worker): it holds only the config and the roots;
    the filesystem objects are created lazily in each process, and re-created after a fork.
    """

    def __init__(self, io_cfg: IOConfig, images_root: str) -> None:
        self.io_cfg = io_cfg
        self.images_root = images_root
        raw_roots = [r for r in (images_root, *io_cfg.images_roots) if r]
        if not raw_roots:
            raise ValueError("ImageStore needs an images root (images_root or io.images_roots)")
        self._roots = tuple(_parse_root(r) for r in raw_roots)
        self._pid = -1
        self._lock = threading.Lock()  # fetch threads share one S3 client; create it once
        self._s3: fsspec.AbstractFileSystem | None = None
        self._local_real: tuple[tuple[str, ...], ...] = ()

    def __reduce__(self) -> tuple[type[ImageStore], tuple[IOConfig, str]]:
        # Config + roots only: no filesystem object, connection pool or event loop crosses processes.
        return (ImageStore, (self.io_cfg, self.images_root))

    @property
    def roots(self) -> list[str]:
        """The images roots, normalised (local ones absolute, not yet symlink-resolved)."""
        return [r.uri for r in self._roots]

    # ---- resolve ------------------------------------------------------------------------------------------
    def resolve(self, uri: str) -> str:
        """The canonical location of a manifest URI, or PhotoError(URI_NOT_ALLOWED) if it is not inside a root.

        Absolute `s3://bucket/key`, `file:///path` and `/path` are taken as given; anything else is relative
        to the first root. `.`/`..` are normalised first and the result is compared by path components, and
        local paths by their realpath, so neither traversal nor a symlink can leave a root. Returns
        `s3://bucket/key` or a local absolute path — exactly what `read_bytes` will open.
        """
        if not isinstance(uri, str):
            raise _not_allowed(f"image uri is not a string ({type(uri).__name__})")
        if not uri:
            raise _not_allowed("image uri is empty")
        if len(uri) > self.io_cfg.max_uri_chars:
            raise _not_allowed(f"image uri is {len(uri)} characters (limit {self.io_cfg.max_uri_chars})")
        if "\x00" in uri:
            raise _not_allowed(f"image uri contains a NUL byte: {redact_uri(uri)}")
        if _CONTROL.search(uri):
            raise _not_allowed(f"image uri contains a control character: {redact_uri(uri)}")
        match = _SCHEME.match(uri)
        scheme = match.group(1).lower() if match else ""
        if scheme == "s3":
            target = _parse_s3(uri)
        elif scheme == "file":
            target = _Root(None, _local_parts(_file_uri_path(uri), uri))
        elif scheme:
            raise _not_allowed(
                f"scheme {scheme!r} is not allowed (only s3:// and local paths): {redact_uri(uri)}"
            )
        elif uri.startswith("/"):
            target = _Root(None, _local_parts(uri, uri))
        else:
            base = self._roots[0]
            joined = (*base.parts, *uri.split("/"))
            target = _Root(base.bucket, _normalise(joined, uri))
        if target.bucket is None:
            return self._confine_local(target, uri)
        return self._confine_s3(target, uri)

    def _confine_s3(self, target: _Root, uri: str) -> str:
        s3_roots = [r for r in self._roots if r.bucket is not None]
        if not s3_roots:
            raise _not_allowed(f"s3 uri but the images roots are local: {redact_uri(uri)}")
        for root in s3_roots:
            if target.bucket == root.bucket and _within(target.parts, root.parts):
                return target.uri
        raise _not_allowed(f"outside the images roots {self._shown_roots()}: {redact_uri(uri)}")

    def _confine_local(self, target: _Root, uri: str) -> str:
        local_roots = self._local_roots_real()
        if not local_roots:
            raise _not_allowed(f"local path but the images roots are on S3: {redact_uri(uri)}")
        real = os.path.realpath("/" + "/".join(target.parts))
        real_parts = tuple(p for p in real.split("/") if p)
        if any(_within(real_parts, root) for root in local_roots):
            return real
        raise _not_allowed(
            f"outside the images roots {self._shown_roots()} (after symlinks): {redact_uri(uri)}"
        )

    def _local_roots_real(self) -> tuple[tuple[str, ...], ...]:
        self._ensure_process()
        if not self._local_real:
            self._local_real = tuple(
                tuple(p for p in os.path.realpath(r.uri).split("/") if p)
                for r in self._roots
                if r.bucket is None
            )
        return self._local_real

    def _shown_roots(self) -> str:
        return "[" + ", ".join(redact_uri(r.uri) for r in self._roots) + "]"

    # ---- read ---------------------------------------------------------------------------------------------
    def fetch(self, uri: str) -> bytes:
        """`read_bytes(resolve(uri))`: the one call a worker makes per manifest row."""
        return self.read_bytes(self.resolve(uri))

    def read_bytes(self, resolved: str) -> bytes:
        """The object's bytes; raises only PhotoError. `resolved` must come from `resolve`.

        The size is checked first (one HEAD on S3, a stat locally) so an oversized object is never read,
        and the read itself is bounded to `max_bytes + 1` in case the object grew in between. Transient
        failures (5xx, SlowDown, resets, timeouts) are retried `io.read_retries` times with exponential
        backoff and full jitter; this is the only retry layer (s3fs's and botocore's are switched off), so
        a persistently failing object costs exactly `1 + read_retries` attempts.
        """
        shown = redact_uri(resolved)
        attempts = 1 + max(0, self.io_cfg.read_retries)
        last = ""
        for attempt in range(attempts):
            if attempt:
                cap = min(self.io_cfg.retry_max_s, self.io_cfg.retry_base_s * 2 ** (attempt - 1))
                time.sleep(random.uniform(0, cap))
            try:
                return self._read_once(resolved, shown)
            except PhotoError:
                raise
            except Exception as exc:  # every storage library failure is classified here, nothing escapes
                code, detail = _classify(exc)
                if code is not None:
                    raise PhotoError(code, f"{detail}: {shown}") from None
                last = detail
        raise PhotoError(ErrorCode.FETCH_FAILED, f"{last} (after {attempts} attempts): {shown}")

    def _read_once(self, resolved: str, shown: str) -> bytes:
        fs, path = self._fs_for(resolved)
        info = fs.info(path)
        if info.get("type") != "file":
            raise PhotoError(ErrorCode.NOT_FOUND, f"not a regular file ({info.get('type')}): {shown}")
        limit = self.io_cfg.max_bytes
        size = info.get("size")
        if size is not None and size > limit:
            raise PhotoError(ErrorCode.TOO_LARGE, f"{size} bytes > io.max_bytes {limit}: {shown}")
        if size == 0:
            raise PhotoError(ErrorCode.EMPTY_FILE, f"zero bytes: {shown}")
        data = bytes(fs.cat_file(path, start=0, end=limit + 1))
        if len(data) > limit:
            raise PhotoError(ErrorCode.TOO_LARGE, f"more than io.max_bytes {limit} bytes: {shown}")
        if not data:
            raise PhotoError(ErrorCode.EMPTY_FILE, f"zero bytes: {shown}")
        return data

    def _fs_for(self, resolved: str) -> tuple[fsspec.AbstractFileSystem, str]:
        self._ensure_process()
        if not resolved.startswith("s3://"):
            return fsspec.filesystem("file"), resolved
        with self._lock:
            return self._s3_fs(), resolved[len("s3://") :]

    def _s3_fs(self) -> fsspec.AbstractFileSystem:
        if self._s3 is None:
            opts = storage_options(self.io_cfg)
            # Our retry loop is the only one: botocore's would multiply it and hide the attempt count.
            opts["config_kwargs"]["retries"] = {"total_max_attempts": 1}
            # A private instance (not fsspec's shared cache) so these settings cannot change how other code
            # (manifest, Parquet sink) talks to the same endpoint. No listings cache: photos keep arriving
            # during the day, and a stale listing would turn a new photo into not_found.
            fs = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False, **opts)
            fs.retries = 1  # s3fs's own retry loop: a single try
            self._s3 = fs
        return self._s3

    def _ensure_process(self) -> None:
        if self._pid != os.getpid():  # new process (fork or unpickled): nothing from the parent is reused
            self._pid = os.getpid()
            self._lock = (
                threading.Lock()
            )  # a lock held by a parent thread at fork time stays held in the child
            self._s3 = None
            self._local_real = ()


# ---- helpers ----------------------------------------------------------------------------------------------
def _not_allowed(message: str) -> PhotoError:
    return PhotoError(ErrorCode.URI_NOT_ALLOWED, message)


def _normalise(parts: tuple[str, ...] | list[str], uri: str) -> tuple[str, ...]:
    """Path components with `''`/`.` dropped and `..` applied; `..` above the top is an escape, not a clamp."""
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                raise _not_allowed(f"'..' climbs above the top of the path: {redact_uri(uri)}")
            out.pop()
        else:
            out.append(part)
    return tuple(out)


def _within(parts: tuple[str, ...], root: tuple[str, ...]) -> bool:
    """Strictly below `root`, component-wise: ('data','images2') is not inside ('data','images'), and the
    root itself is a folder (or bucket), never a photo."""
    return len(parts) > len(root) and parts[: len(root)] == root


def _local_parts(path: str, uri: str) -> tuple[str, ...]:
    if not path.startswith("/"):
        raise _not_allowed(f"local path is not absolute: {redact_uri(uri)}")
    return _normalise(path.split("/"), uri)


def _file_uri_path(uri: str) -> str:
    """The path of `file:///p` or `file://localhost/p`; other hosts are remote shares we do not follow."""
    rest = uri[len("file:") :]
    if not rest.startswith("//"):
        raise _not_allowed(f"file uri must be file:///absolute/path: {redact_uri(uri)}")
    host, sep, path = rest[2:].partition("/")
    if host not in ("", "localhost") or not sep:
        raise _not_allowed(f"file uri with a host is not allowed: {redact_uri(uri)}")
    return "/" + path


def _parse_s3(uri: str) -> _Root:
    rest = uri[len("s3:") :]
    if not rest.startswith("//"):
        raise _not_allowed(f"malformed s3 uri (want s3://bucket/key): {redact_uri(uri)}")
    if "?" in rest or "#" in rest:
        # s3fs reads `?versionId=` itself; anything after '?' is more likely a pasted signed URL than a key.
        raise _not_allowed(f"query strings and fragments are not allowed in s3 uris: {redact_uri(uri)}")
    bucket, _, key = rest[2:].partition("/")
    if "@" in bucket or ":" in bucket or not _BUCKET.match(bucket):
        raise _not_allowed(f"invalid bucket name: {redact_uri(uri)}")
    return _Root(bucket, _normalise(key.split("/"), uri))


def _parse_root(root: str) -> _Root:
    """A configured root in normal form; local roots are made absolute here (on the driver)."""
    try:
        match = _SCHEME.match(root)
        scheme = match.group(1).lower() if match else ""
        if scheme == "s3":
            return _parse_s3(root)
        if scheme == "file":
            return _Root(None, _local_parts(_file_uri_path(root), root))
        if scheme:
            raise _not_allowed(f"scheme {scheme!r}")
        return _Root(None, _local_parts(os.path.abspath(root), root))
    except PhotoError as exc:
        raise ValueError(f"invalid images root {redact_uri(root)}: {exc.message}") from None


def _classify(exc: BaseException) -> tuple[ErrorCode | None, str]:
    """(final error code, detail) — code None means transient: worth another attempt."""
    # An OSError's str() repeats the path (already in the message): keep only its strerror, if any.
    reason = (exc.strerror or "") if isinstance(exc, OSError) else str(exc)
    detail = redact(f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__)[:300]
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for link in chain:  # the S3 response, where there is one, is the most precise evidence
        response = getattr(link, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = str(response["Error"].get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            detail = redact(" ".join(dict.fromkeys(x for x in ("S3", str(status or ""), code) if x)))
            if status == 404 or code in ("NoSuchKey", "NoSuchBucket", "404"):
                return ErrorCode.NOT_FOUND, detail
            if status == 403 or code in _DENIED_CODES:
                return ErrorCode.ACCESS_DENIED, detail
            if status >= 500 or code in _TRANSIENT_CODES:
                return None, detail
            return ErrorCode.FETCH_FAILED, detail
    for link in chain:
        if isinstance(link, FileNotFoundError | IsADirectoryError | NotADirectoryError):
            return ErrorCode.NOT_FOUND, detail
        if isinstance(link, PermissionError):
            return ErrorCode.ACCESS_DENIED, detail
    for link in chain:
        if _is_transient(link):
            return None, detail
    if any(isinstance(link, OSError) for link in chain):
        return ErrorCode.FETCH_FAILED, detail
    return ErrorCode.INTERNAL, detail


def _is_transient(exc: BaseException) -> bool:
    """Connection resets, timeouts, truncated bodies: the network, not the object."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    return isinstance(exc, _network_errors())


def _network_errors() -> tuple[type[BaseException], ...]:
    """s3fs's own list of retryable network errors (botocore HTTPClientError family, IncompleteRead, bad XML
    from throttling proxies, fsspec timeouts, aiohttp payload errors) plus aiohttp's dropped connections.
    Imported on first use: only the error path pays for it."""
    import aiohttp
    from s3fs.core import S3_RETRYABLE_ERRORS

    return (*S3_RETRYABLE_ERRORS, aiohttp.ClientConnectionError)
