"""Shared pytest fixtures.

Sections are owned by the modules that need them; keep each self-contained.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# ---- S3: a real moto server process on loopback -----------------------------------------------------------
# A separate *process* with an HTTP endpoint (not moto's in-process mock), so Dask workers — other processes —
# reach the same buckets through the same endpoint_url, and code under test talks real HTTP through s3fs.

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class MotoServer:
    endpoint_url: str
    port: int
    process: subprocess.Popen[bytes]

    def fs(self, **kwargs: Any) -> Any:
        """A fresh s3fs filesystem on this server (not fsspec's shared instance), for test set-up."""
        import s3fs

        return s3fs.S3FileSystem(endpoint_url=self.endpoint_url, skip_instance_cache=True, **kwargs)

    def post(self, path: str, body: bytes = b"") -> bytes:
        """POST to moto's control API (e.g. /moto-api/reset-auth)."""
        req = urllib.request.Request(
            self.endpoint_url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def start_moto_server(
    extra_env: dict[str, str] | None = None, timeout_s: float = 30.0
) -> Iterator[MotoServer]:
    """Run `python -m moto.server` on a free loopback port until the context exits; waits for readiness."""
    env = {**os.environ, **(extra_env or {})}
    output = ""
    for _ in range(3):  # the free port can be taken between probing and binding; try a few
        port = _free_port()
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                if _wait_ready(proc, url + "/moto-api/data.json", timeout_s):
                    yield MotoServer(url, port, proc)
                    return
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    raise RuntimeError(f"moto server did not start:\n{output}")


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto S3 server for the whole session, with fake AWS credentials in os.environ.

    The environment is set for this process and so for every process it starts (Dask workers): the fake
    keys, a region, and AWS config/credentials files pointed at nothing so a developer's real ~/.aws
    profile can never be picked up. Pass `s3_server.endpoint_url` as `io.s3_endpoint_url`.
    """
    nowhere = str(tmp_path_factory.mktemp("no-aws") / "none")
    mp = pytest.MonkeyPatch()
    for name, value in FAKE_AWS_ENV.items():
        mp.setenv(name, value)
    mp.setenv("AWS_CONFIG_FILE", nowhere)
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        mp.delenv(name, raising=False)
    try:
        with start_moto_server() as server:
            yield server
    finally:
        mp.undo()


@pytest.fixture
def s3_bucket(s3_server: MotoServer) -> Iterator[str]:
    """A fresh, empty bucket on the session's moto server; its name. Removed (with contents) afterwards."""
    name = f"podocr-test-{uuid.uuid4().hex[:12]}"
    fs = s3_server.fs()
    fs.mkdir(name)
    yield name
    with contextlib.suppress(OSError):
        fs.rm(name, recursive=True)
