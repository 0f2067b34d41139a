"""A fault-injecting HTTP reverse proxy on loopback, for S3 clients in tests and benchmarks.

Every request is either forwarded to the upstream (moto) unchanged or, chosen by a seeded
RNG with configurable rates, answered with a fault:

- ``error500``: 500 InternalError, not forwarded;
- ``slowdown``: 503 SlowDown with the S3 XML error body, not forwarded;
- ``reset_before``: the socket is reset (RST) without an answer, not forwarded;
- ``reset_after``: forwarded (it takes effect!), then reset without an answer — the case
  where a client retries a write that already landed;
- ``truncate``: forwarded, then half of the answer body and a reset (GETs with a body only);
- ``slow``: forwarded after ``slow_seconds``;
- ``denied``: 403 AccessDenied, not forwarded (what a too-narrow IAM policy answers);
- ``conflict``: 409 ConditionalRequestConflict, not forwarded (PUTs only; S3's answer while
  another conditional write to the same key is in flight);
- ``abort_uploads`` (a count, not a rate): a multipart upload is aborted upstream before its
  second part, which is answered as S3 does then: 404 NoSuchUpload.

It also counts requests per method, which the poll-cost benchmark uses.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

FAULTS = ("error500", "slowdown", "reset_before", "reset_after", "truncate", "slow", "denied", "conflict")
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


def s3_error_xml(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>fault-{random.getrandbits(32):08x}</RequestId></Error>"
    ).encode()


@dataclass
class FaultRates:
    error500: float = 0.0
    slowdown: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    truncate: float = 0.0
    slow: float = 0.0
    denied: float = 0.0
    conflict: float = 0.0
    slow_seconds: float = 0.5

    def total(self) -> float:
        return sum(getattr(self, name) for name in FAULTS)


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # S3 listens with a deep backlog; socketserver's 5 drops SYNs (1 s each)


@dataclass
class ProxyStats:
    requests: Counter[str] = field(default_factory=Counter)  # by HTTP method
    faults: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (arrived, answered, method, path, status) per forwarded request, when ``timeline`` is on
    timeline: list[tuple[float, float, str, str, int]] | None = None

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()

    def total(self) -> int:
        with self.lock:
            return sum(self.requests.values())


class FaultProxy:
    """``FaultProxy(upstream_url, rates, seed).start()`` → ``.url``; ``.stop()`` when done."""

    def __init__(self, upstream: str, rates: FaultRates | None = None, seed: int = 0, port: int = 0) -> None:
        parsed = urlparse(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.rates = rates or FaultRates()
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.stats = ProxyStats()
        # Headers dropped on the way up: simulates a store that ignores conditional writes.
        self.strip_headers: set[str] = set()
        # Faults for the next requests, in order, before the RNG decides (deterministic tests).
        self.script: deque[str | None] = deque()
        # This many multipart uploads are aborted upstream just before their second part is
        # forwarded (what a lifecycle rule or another tool's cleanup does): S3 answers NoSuchUpload.
        self.abort_uploads = 0
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def choose(self, method: str) -> str | None:
        with self.rng_lock:
            if self.script:
                return self.script.popleft()
            roll = self.rng.random()
        edge = 0.0
        for name in FAULTS:
            edge += getattr(self.rates, name)
            if roll < edge:
                if (name == "truncate" and method != "GET") or (name == "conflict" and method != "PUT"):
                    return None
                return name
        return None


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, like real S3

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        proxy = self.owner
        arrived = time.time()
        body = self._read_body()
        with proxy.stats.lock:
            proxy.stats.requests[self.command] += 1
        fault = proxy.choose(self.command)
        if fault:
            with proxy.stats.lock:
                proxy.stats.faults[fault] += 1
        if fault == "error500":
            return self._reply(500, s3_error_xml("InternalError", "We encountered an internal error."))
        if fault == "slowdown":
            return self._reply(503, s3_error_xml("SlowDown", "Please reduce your request rate."))
        if fault == "conflict":
            message = "A conflicting conditional operation is currently in progress against this resource."
            return self._reply(409, s3_error_xml("ConditionalRequestConflict", message))
        if fault == "denied":
            return self._reply(403, s3_error_xml("AccessDenied", "Access Denied"))
        if fault == "reset_before":
            return self._reset()
        if fault == "slow":
            time.sleep(proxy.rates.slow_seconds)
        if self._maybe_abort_upload():
            message = "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            return self._reply(404, s3_error_xml("NoSuchUpload", message))
        try:
            status, headers, payload = self._forward(body)
        except OSError:
            return self._reply(502, s3_error_xml("InternalError", "upstream unreachable"))
        if fault == "reset_after":
            return self._reset()
        if proxy.stats.timeline is not None:
            with proxy.stats.lock:
                proxy.stats.timeline.append((arrived, time.time(), self.command, self.path, status))
        truncate = fault == "truncate" and self.command == "GET" and len(payload) > 1
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP and name.lower() not in ("content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            return self._reset()
        self.wfile.write(payload)

    def _maybe_abort_upload(self) -> bool:
        """Abort the upload upstream; the part then gets S3's answer, 404 NoSuchUpload (moto
        itself answers 500 for a part of an aborted upload)."""
        proxy = self.owner
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if self.command != "PUT" or query.get("partNumber") != ["2"] or "uploadId" not in query:
            return False
        with proxy.rng_lock:
            if proxy.abort_uploads <= 0:
                return False
            proxy.abort_uploads -= 1
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            conn.request("DELETE", f"{url.path}?{urlencode({'uploadId': query['uploadId'][0]})}",
                         headers={"Host": self.headers.get("Host", "")})
            conn.getresponse().read()
        finally:
            conn.close()
        with proxy.stats.lock:
            proxy.stats.faults["abort_upload"] += 1
        return True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.owner
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                lower = name.lower()
                if lower not in _HOP and lower != "content-length" and lower not in proxy.strip_headers:
                    conn.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            conn.close()

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees a dropped connection.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


if __name__ == "__main__":  # python tests/fault_proxy.py http://127.0.0.1:5000 0.1
    import sys

    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    p = FaultProxy(sys.argv[1], FaultRates(error500=rate, slowdown=rate, reset_before=rate, reset_after=rate))
    print(p.start().url, flush=True)
    threading.Event().wait()
