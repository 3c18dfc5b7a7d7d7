"""A fault-injecting HTTP proxy on loopback, in front of the S3 server.

Requests pass through to the upstream server unchanged, except those matching a
:class:`Fault` rule, which are answered with a 503/500 S3 error, a connection reset, a
body cut short, or a 403 credentials refusal, a given number of times (or, with
:class:`EveryNth`, every n-th request, the kinds in turn). Every request seen is
recorded so that tests can check what was attempted.
"""

from __future__ import annotations

import http.client
import re
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["EveryNth", "Fault", "FaultProxy", "fault_proxy"]

_ERRORS = {
    "503": (503, "Service Unavailable", "SlowDown", "Please reduce your request rate."),
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "403": (403, "Forbidden", "InvalidAccessKeyId", "The AWS Access Key Id does not exist."),
    "nosuchupload": (404, "Not Found", "NoSuchUpload", "The specified upload does not exist."),
}
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})


@dataclass
class Fault:
    """Answer requests matching ``method`` and ``pattern`` (a regex on the request target)
    with ``kind`` (``"503"``, ``"500"``, ``"403"``, ``"reset"``, ``"short"``, or ``"lost"``:
    forwarded and carried out, then the connection reset before the answer), ``times``
    times (``-1``: always)."""

    kind: str
    method: str | None = None
    pattern: str = ""
    times: int = 1
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        """True when this fault applies to the request and has uses left."""
        if self.times != -1 and self.hits >= self.times:
            return False
        if self.method is not None and method != self.method:
            return False
        return re.search(self.pattern, target) is not None


@dataclass
class EveryNth:
    """Answer every ``n``-th request (counting all requests, from ``seen``) with the next
    fault of ``kinds``, in turn; ``injected`` lists (kind, method, target) of each."""

    n: int
    kinds: tuple[str, ...] = ("503", "500", "reset", "short")
    seen: int = 0
    hits: int = 0
    kind: str = ""
    injected: list[tuple[str, str, str]] = field(default_factory=list)

    def matches(self, method: str, target: str) -> bool:
        """True for every ``n``-th request; picks the kind of fault it gets."""
        self.seen += 1
        if self.seen % self.n:
            return False
        self.kind = self.kinds[self.hits % len(self.kinds)]
        self.injected.append((self.kind, method, target))
        return True

    @property
    def counts(self) -> dict[str, int]:
        """How many faults of each kind were injected."""
        counts: dict[str, int] = {}
        for kind, _, _ in self.injected:
            counts[kind] = counts.get(kind, 0) + 1
        return counts


@dataclass
class FaultProxy:
    """The running proxy: point clients at ``endpoint_url``; add faults to ``faults``."""

    upstream: tuple[str, int]
    endpoint_url: str = ""
    faults: list[Fault | EveryNth] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_for(self, method: str, target: str) -> Fault | EveryNth | None:
        """The first fault that applies to this request (and count its use), if any."""
        with self.lock:
            self.seen.append((method, target))
            for fault in self.faults:
                if fault.matches(method, target):
                    fault.hits += 1
                    return fault
        return None


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while self._one_request():
            pass

    def _one_request(self) -> bool:
        line = self.rfile.readline(65537)
        if not line.strip():
            return False
        method, target, _version = line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = self.rfile.readline(65537).decode("latin-1")
            if raw in ("\r\n", "\n", ""):
                break
            name, _, value = raw.partition(":")
            headers.append((name.strip(), value.strip()))
        if any(k.lower() == "expect" and "100" in v for k, v in headers):
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
            headers = [(k, v) for k, v in headers if k.lower() != "expect"]
        body = self._read_body(headers)
        fault = self.server.proxy.fault_for(method, target)
        if fault is not None and fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if fault is not None and fault.kind in _ERRORS:
            self._send_error(*_ERRORS[fault.kind])
            return True
        status, reason, reply_headers, data = self._forward(method, target, headers, body)
        if fault is not None and fault.kind == "lost":  # done upstream, answer never arrives
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        self._send(status, reason, reply_headers, data, method, short=fault is not None)
        return fault is None

    def _read_body(self, headers: list[tuple[str, str]]) -> bytes:
        values = {k.lower(): v for k, v in headers}
        if "chunked" in values.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(values.get("content-length", "0") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        host, port = self.server.proxy.upstream
        connection = http.client.HTTPConnection(host, port, timeout=120)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP and name.lower() != "content-length":
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            connection.close()

    def _send(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        data: bytes,
        method: str,
        *,
        short: bool = False,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers:
            if name.lower() not in _HOP and (name.lower() != "content-length" or method == "HEAD"):
                lines.append(f"{name}: {value}")
        if method != "HEAD":
            lines.append(f"Content-Length: {len(data)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if method == "HEAD":
            self.wfile.write(head)
        elif short:
            self.wfile.write(head + data[: len(data) // 2])
        else:
            self.wfile.write(head + data)
        self.wfile.flush()

    def _send_error(self, status: int, reason: str, code: str, message: str) -> None:
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fault</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
        self._send(status, reason, headers, xml, "GET")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


@contextmanager
def fault_proxy(upstream_url: str) -> Iterator[FaultProxy]:
    """Run a proxy to ``upstream_url`` (``http://127.0.0.1:PORT``) for the ``with`` block."""
    host, port = upstream_url.split("://", 1)[1].rsplit(":", 1)
    server = _Server(("127.0.0.1", 0), _Handler)
    proxy = FaultProxy((host, int(port)))
    proxy.endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
    server.proxy = proxy
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
