"""HTTP endpoint: /healthz (alive: answers even mid-conversion; 503, with the reason, once the
engine has been down too long or the loop or a lease renewer stopped ticking, so an orchestrator
restarts the container), /readyz (engine + storage), /metrics,
and POST routes other parts hand in (the event webhook)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from watcher.metrics import Metrics

ReadyCheck = Callable[[], tuple[bool, dict[str, str]]]
AliveCheck = Callable[[], tuple[str | None, dict[str, float]]]  # (None: alive, else why not; beat ages)
# (Authorization header, body) -> (status, JSON answer)
PostRoute = Callable[[str | None, bytes], tuple[int, dict[str, object]]]
_MAX_POST_BODY = 1024 * 1024


class HealthServer:
    def __init__(self, host: str, port: int, ready: ReadyCheck, alive: AliveCheck, metrics: Metrics,
                 post_routes: dict[str, PostRoute] | None = None) -> None:
        # the routes dict is read at each request: routes added after the start are served
        handler = _with_post(_handler(ready, alive, metrics), post_routes if post_routes is not None else {})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(ready: ReadyCheck, alive: AliveCheck, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                problem, ages = alive()
                status = {"status": "alive"} if problem is None else {"status": "not alive", "reason": problem}
                body = json.dumps({**status, "seconds_since_tick": ages})
                self._send(200 if problem is None else 503, "application/json", body.encode())
            elif path == "/readyz":
                ok, detail = ready()
                metrics.readiness(ok)
                body = json.dumps({"status": "ready" if ok else "not ready", **detail}).encode()
                self._send(200 if ok else 503, "application/json", body)
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            else:
                self._send(404, "application/json", b'{"error": "not found"}')

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # probes every few seconds would drown the log

    return Handler


def _with_post(base: type[BaseHTTPRequestHandler], routes: dict[str, PostRoute]) -> type[BaseHTTPRequestHandler]:
    class Handler(base):  # type: ignore[valid-type, misc]
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            route = routes.get(self.path.split("?", 1)[0])
            length = int(self.headers.get("Content-Length") or 0)
            if route is None:
                code, answer = 404, {"error": "not found"}
            elif length > _MAX_POST_BODY:
                code, answer = 413, {"error": "body too large"}
            else:
                code, answer = route(self.headers.get("Authorization"), self.rfile.read(length))
            self._send(code, "application/json", json.dumps(answer).encode())

    return Handler
