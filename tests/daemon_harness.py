"""Run the real daemon as a subprocess and watch what it does (logs, manifests, HTTP)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DaemonProc:
    proc: subprocess.Popen
    log_path: Path
    health_port: int | None
    env: dict[str, str] = field(default_factory=dict)

    def events(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def count(self, event: str, **match: object) -> int:
        return sum(1 for e in self.events() if e.get("event") == event and all(e.get(k) == v for k, v in match.items()))

    def http(self, path: str) -> tuple[int, bytes]:
        assert self.health_port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def wait_exit(self, timeout: float = 120) -> int:
        return self.proc.wait(timeout=timeout)


def start_daemon(
    tmp: Path, input_dir: str, output_dir: str, *, name: str = "d", once: bool = False,
    health: bool = True, extra_env: dict[str, str] | None = None,
) -> DaemonProc:
    port = free_port() if health else 0
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DOCWATCH_POLL_INTERVAL": "0.5",
        "DOCWATCH_SETTLE_SECONDS": "0.5",
        "DOCWATCH_LOG_FORMAT": "json",
        "DOCWATCH_WORKER_ID": name,
        "DOCWATCH_CPU__PAGE_WORKERS": "1",
        "DOCWATCH_RETRY_BACKOFF_SECONDS": "0",
        **(extra_env or {}),
    }
    log_path = tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "watcher", "run", "--input", input_dir, "--output", output_dir,
           "--health-port", str(port)] + (["--once"] if once else [])
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    return DaemonProc(proc=proc, log_path=log_path, health_port=port or None, env=env)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def manifest(out: Path, key: str) -> dict | None:
    path = out / key / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def wait_status(out: Path, key: str, statuses: tuple[str, ...] = ("succeeded", "failed"), timeout: float = 90) -> dict:
    return wait_for(
        lambda: (m := manifest(out, key)) and m["status"] in statuses and (m["status"] != "failed" or not m.get("next_attempt_at")) and m,
        timeout=timeout, what=f"{key} to reach {statuses}",
    )
