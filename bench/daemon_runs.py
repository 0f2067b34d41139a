"""Shared by the throughput, memory and resume benches: a real ``docwatch run`` subprocess (via
tests/daemon_harness.py), its JSON log read back as events, and the RSS of its process tree."""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.daemon_harness import DaemonProc  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def stamp(e: dict) -> float:
    return datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()


def of(d: DaemonProc, event: str, keys: set[str] | None = None) -> list[dict]:
    return [e for e in d.events() if e.get("event") == event and (keys is None or e.get("key") in keys)]


def wait_done(d: DaemonProc, keys: set[str], timeout: float) -> list[dict]:
    """Wait for a final ``document.succeeded``/``document.failed`` of every key; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = {e["key"]: e for e in d.events() if e.get("event") in ("document.succeeded", "document.failed")
                and e.get("key") in keys and not e.get("next_attempt_at")}  # fmt: skip
        if len(done) == len(keys):
            return list(done.values())
        if d.proc.poll() is not None:
            raise RuntimeError(f"daemon exited {d.proc.returncode}:\n{d.log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"{len(keys)} documents not done within {timeout} s; log {d.log_path}")


def stream_figures(d: DaemonProc, keys: set[str]) -> dict:
    """Pages/s from the first claim to the last success of ``keys``, plus mean stage seconds."""
    claims = of(d, "document.claimed", keys)
    finals = of(d, "document.succeeded", keys) + of(d, "document.failed", keys)
    first, last = min(map(stamp, claims)), max(map(stamp, finals))
    pages = sum(e.get("pages", 0) for e in of(d, "document.succeeded", keys))
    stages: dict[str, list[float]] = {}
    for e in finals:
        for stage, seconds in (e.get("timings") or {}).items():
            stages.setdefault(stage, []).append(seconds)
    return {
        "documents": len(keys),
        "succeeded": len(of(d, "document.succeeded", keys)),
        "pages": pages,
        "wall_s": round(last - first, 3),
        "pages_per_s": round(pages / (last - first), 3) if last > first else None,
        "stage_mean_s": {k: round(statistics.fmean(v), 3) for k, v in stages.items()},
        "stage_sum_s": {k: round(sum(v), 3) for k, v in stages.items()},
    }


def tree_rss(root: int) -> tuple[int, list[tuple[int, int]]]:
    """Bytes resident in ``root`` and all its descendants, read from /proc, and
    (depth, bytes) per process: depth 0 the daemon, 1 its engine child, 2 that child's workers."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    per_process: list[tuple[int, int]] = []
    todo = [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        todo.extend((c, depth + 1) for c in children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as f:
                per_process.append((depth, int(f.read().split()[1]) * _PAGE))
        except OSError:
            continue
    return sum(rss for _, rss in per_process), sorted(per_process)
