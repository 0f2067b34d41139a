"""A fleet of real ``docwatch run`` replicas on one S3 prefix, for fault-injection runs.

Each replica is a subprocess in its own session, talking to S3 through its own
``FaultProxy`` (so one replica can be partitioned alone), under a stable worker id like a
StatefulSet pod. Every start of a replica (an *incarnation*) logs JSON to its own file, so
an event can be tied to the process that wrote it: a conversion whose incarnation was
killed before recording it is the expected cost of the kill, not a duplicate.

``kill9`` is what a node loss or an OOM kill of the container does: SIGKILL to the daemon
and to every process under it (the engine child sets up its own process group, so killing
the daemon's group alone would leave it behind). ``stop`` ends everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A claimed document ends with exactly one of these in the log of the incarnation that claimed it.
CLAIM_ENDS = ("document.succeeded", "document.failed", "document.retry_scheduled", "document.released",
              "document.lease_lost", "document.storage_fault")  # fmt: skip
CONVERSION_ENDS = ("document.converted", "document.error")


def timestamp(event: dict) -> datetime:
    """structlog's ISO timestamp ('...Z'), timezone-aware."""
    return datetime.fromisoformat(str(event.get("timestamp", "1970-01-01T00:00:00Z")).replace("Z", "+00:00"))


def _stats() -> dict[int, list[str]]:
    """/proc/<pid>/stat of every process, as the fields after the name (state, ppid, pgrp,
    session, ...); the name may hold spaces and parentheses, hence the split at the last ')'."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                pass
    return found


def descendants(root: int) -> set[tuple[int, str]]:
    """Live processes under ``root`` as (pid, start time), so a reused pid is not mistaken."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = set(), [root]
    while todo and len(found) < 10_000:
        for child in children.get(todo.pop(), []):
            if stats[child][0] != "Z":
                found.add((child, stats[child][19]))
            todo.append(child)
    return found


def alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``processes`` (from ``descendants``) still running."""
    stats = _stats()
    return {(pid, start) for pid, start in processes if pid in stats and stats[pid][19] == start and stats[pid][0] != "Z"}


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``, from /proc. A replica starts its own session and
    nothing under it calls setsid (the engine child only makes its own process group), so
    this is the replica with every child, even once the daemon itself is gone: Linux keeps
    a session id from being reused while any process still belongs to it."""
    return [pid for pid, fields in _stats().items() if int(fields[3]) == sid and fields[0] != "Z"]


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (a few rounds: one may be forking)."""
    for _ in range(5):
        members = session_members(sid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


class LogTail:
    """Reads a JSON-lines log incrementally; keeps parsed events and counts other lines."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, b""
        self.events: list[dict] = []
        self.other_lines: list[str] = []

    def read(self) -> list[dict]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        new = []
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = None
            if isinstance(event, dict):
                new.append(event)
            else:
                self.other_lines.append(line[:300])
        self.events.extend(new)
        return new


@dataclass
class Incarnation:
    """One start of a replica."""

    number: int
    proc: subprocess.Popen
    log: LogTail
    started: float
    ended: float | None = None
    how: str | None = None  # "kill9", "exit <code>", "stopped <code>"
    terminated: bool = False  # SIGTERM sent

    def open_claims(self) -> set[str]:
        """Keys this incarnation claimed and has not finished with."""
        held: set[str] = set()
        for e in self.log.events:
            if e.get("event") == "document.claimed":
                held.add(e.get("key"))
            elif e.get("event") in CLAIM_ENDS:
                held.discard(e.get("key"))
        return held

    def converting(self) -> dict[str, datetime]:
        """Keys whose conversion has started here and not ended, with when it started."""
        busy: dict[str, datetime] = {}
        for e in self.log.events:
            if e.get("event") == "document.convert.start":
                busy[e.get("key")] = timestamp(e)
            elif e.get("event") in CONVERSION_ENDS or e.get("event") in CLAIM_ENDS:
                busy.pop(e.get("key"), None)
        return busy


@dataclass
class Replica:
    name: str
    endpoint: str  # its own proxy's URL
    bucket: str
    logdir: Path
    env: dict[str, str]
    lives: list[Incarnation] = field(default_factory=list)
    restart_at: float | None = None
    crashes_in_a_row: int = 0

    @property
    def current(self) -> Incarnation | None:
        return self.lives[-1] if self.lives else None

    def alive(self) -> bool:
        return self.current is not None and self.current.ended is None and self.current.proc.poll() is None

    def start(self) -> Incarnation:
        n = len(self.lives)
        log = self.logdir / f"{self.name}.{n}.log"
        env = {**os.environ, **self.env, "DOCWATCH_S3__ENDPOINT_URL": self.endpoint, "DOCWATCH_WORKER_ID": self.name}
        cmd = [sys.executable, "-m", "watcher.cli", "run", "--input", f"s3://{self.bucket}/in/",
               "--output", f"s3://{self.bucket}/out/"]  # fmt: skip
        # A file, not a pipe: a full pipe would block the daemon or its engine child.
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        life = Incarnation(n, proc, LogTail(log), time.monotonic())
        self.lives.append(life)
        self.restart_at = None
        return life

    def kill9(self) -> None:
        life = self.current
        assert life is not None and life.ended is None
        kill_session(life.proc.pid)
        life.proc.wait(30)
        life.log.read()
        life.ended, life.how = time.monotonic(), "kill9"

    def check_exit(self) -> int | None:
        """The exit code if the current incarnation ended by itself since the last check."""
        life = self.current
        if life is None or life.ended is not None or life.proc.poll() is None:
            return None
        kill_session(life.proc.pid)  # whatever it left behind
        life.log.read()
        life.ended, life.how = time.monotonic(), f"exit {life.proc.returncode}"
        return life.proc.returncode

    def terminate(self) -> None:
        """SIGTERM: the daemon finishes or releases its document and exits 0."""
        life = self.current
        if life is not None and life.ended is None and not life.terminated and life.proc.poll() is None:
            os.kill(life.proc.pid, signal.SIGTERM)  # once: a second one means "now", as on a terminal
            life.terminated = True

    def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL of the whole session after ``grace``; the exit code of a
        graceful stop, None when it had to be killed (or had ended before)."""
        life = self.current
        if life is None or life.ended is not None:
            return None
        self.terminate()
        try:
            code: int | None = life.proc.wait(max(grace, 0.1))
        except subprocess.TimeoutExpired:
            code = None
        kill_session(life.proc.pid)
        life.proc.wait(30)
        life.log.read()
        life.ended, life.how = time.monotonic(), f"stopped {code}"
        return code

    def events(self) -> list[tuple[int, dict]]:
        """Every event of every incarnation, with the incarnation's number."""
        return [(life.number, e) for life in self.lives for e in life.log.events]
