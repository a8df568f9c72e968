"""A fault-injecting HTTP proxy on loopback, put between code under test and the moto S3 server.

Real storage fails in ways an in-process mock never shows: 500/503 and SlowDown responses, connections
dropped mid-request, servers that accept and then never answer, bodies cut short. This proxy produces each
of those at the HTTP level, on a schedule — "the first K requests whose method and path match" — so a test
can prove both sides: a fault that clears is retried through, one that persists ends as a bounded failure.
Every request is logged (method, path, what happened) so tests can count attempts exactly.

Reads only (GET/HEAD are what ImageStore sends); bodies are forwarded when they come with a Content-Length.
Every response closes its connection, so the client never reuses a socket the proxy has broken.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

# action → (HTTP status, S3 error code) for faults answered with an S3 error document
_ERROR_RESPONSES = {
    "500": (500, "InternalError"),
    "503": (503, "ServiceUnavailable"),
    "slowdown": (503, "SlowDown"),
    "403": (403, "AccessDenied"),
}
ACTIONS = (*_ERROR_RESPONSES, "reset", "stall", "truncate")
FAULTS_AND_LATENCY = (*ACTIONS, "delay")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


@dataclass
class Fault:
    """Answer the first `times` requests matching `method` ("" = any) and `path` (regex, searched) with `action`.

    Actions: "500", "503", "slowdown", "403" (S3 error responses); "reset" (TCP RST, no response);
    "stall" (accept, say nothing for `stall_s`, then reset — a client read timeout should fire first);
    "truncate" (the real response's headers, then half its body, then reset); and "delay" (not a fault:
    the real response after `stall_s` seconds, to model storage latency).
    """

    action: str
    times: int = 1
    method: str = ""
    path: str = ""
    stall_s: float = 5.0

    def __post_init__(self) -> None:
        if self.action not in FAULTS_AND_LATENCY:
            raise ValueError(f"unknown fault action {self.action!r}; one of {FAULTS_AND_LATENCY}")


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    action: str  # the fault applied, or "pass"


class FaultProxy:
    """`with FaultProxy(upstream_url) as proxy:` — point clients at `proxy.endpoint_url`."""

    def __init__(self, upstream_url: str) -> None:
        parsed = urllib.parse.urlsplit(upstream_url)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.log: list[Hit] = []
        self._faults: list[tuple[Fault, list[int]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()  # releases stalled handlers at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def inject(self, *faults: Fault) -> None:
        """Replace the schedule and clear the log."""
        with self._lock:
            self._faults = [(f, [f.times]) for f in faults]
            self.log.clear()

    def count(self, method: str = "", action: str = "") -> int:
        """How many logged requests match `method` and `action` ("" = any)."""
        with self._lock:
            return sum(
                1
                for h in self.log
                if (not method or h.method == method) and (not action or h.action == action)
            )

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            chosen = None
            for fault, left in self._faults:
                if left[0] > 0 and fault.method in ("", method) and re.search(fault.path, path):
                    left[0] -= 1
                    chosen = fault
                    break
            self.log.append(Hit(method, path, chosen.action if chosen else "pass"))
            return chosen


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        proxy = self.server.proxy
        fault = proxy._take(self.command, self.path)
        self.close_connection = True
        if fault is None or fault.action == "delay":
            if fault is not None:
                proxy._stop.wait(fault.stall_s)
            status, headers, data = self._forward(body)
            self._reply(status, headers, data)
        elif fault.action == "reset":
            self._reset()
        elif fault.action == "stall":
            proxy._stop.wait(fault.stall_s)
            self._reset()
        elif fault.action == "truncate":
            status, headers, data = self._forward(body)
            self._reply(status, headers, data[: len(data) // 2], length=len(data))
            self._reset()
        else:
            status, code = _ERROR_RESPONSES[fault.action]
            xml = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>injected by faultproxy</Message><RequestId>faultproxy</RequestId></Error>"
            ).encode()
            self._reply(status, [("Content-Type", "application/xml")], xml)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def _reply(
        self, status: int, headers: list[tuple[str, str]], data: bytes, length: int | None = None
    ) -> None:
        self.send_response_only(status)
        upstream_length = "0"
        for name, value in headers:
            low = name.lower()
            if low == "content-length":
                upstream_length = value
            elif low not in _HOP_BY_HOP:
                self.send_header(name, value)
        # HEAD carries the object's length with no body; everything else says what it sends (or meant to).
        if self.command == "HEAD":
            self.send_header("Content-Length", upstream_length)
        else:
            self.send_header("Content-Length", str(len(data) if length is None else length))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(OSError):
                self.wfile.write(data)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed load balancer would."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
