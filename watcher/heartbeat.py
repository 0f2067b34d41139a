"""Heartbeats: liveness that means alive. The daemon's loop and each lease renewer tick; one that
has not ticked within its bound is stuck (a call that never returns: a hung mount, a lock), and
/healthz says so, so the orchestrator restarts us. Storage calls that can time out do (S3: see
``watcher.storage.s3_budget``); this catches what cannot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

LOOP = "loop"
_LOOP_FLOOR = 60.0  # seconds: never less, whatever the poll interval and lease


def loop_bound(poll_interval: float, lease_seconds: float, storage_call_seconds: float = 0.0) -> float:
    """How long the loop may go without a tick: it ticks at least every poll (and every
    half-second while it waits for a slot or the engine), so a few polls, a lease, a minute, or
    one storage call at its longest (every timeout and retry) plus a margin, whichever is more."""
    call = storage_call_seconds + 30 if storage_call_seconds else 0.0
    return max(3 * poll_interval, lease_seconds, _LOOP_FLOOR, call)


class Heartbeats:
    """Named beats, each with its own bound; ``stale()`` lists the ones overdue, with why."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._beats: dict[str, tuple[float, float]] = {}  # name -> (last tick, bound)
        self._lock = threading.Lock()

    def tick(self, name: str, within: float) -> None:
        with self._lock:
            self._beats[name] = (self._clock(), within)

    def forget(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def ages(self) -> dict[str, float]:
        now = self._clock()
        with self._lock:
            return {name: round(now - last, 1) for name, (last, _) in sorted(self._beats.items())}

    def stale(self) -> list[str]:
        now = self._clock()
        with self._lock:
            beats = list(self._beats.items())
        return [f"{name} has not ticked for {now - last:.1f} s (bound {within:.1f} s)"
                for name, (last, within) in sorted(beats) if now - last > within]
