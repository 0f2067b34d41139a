"""Documents in flight: up to ``n`` at once share the engine; one that must run alone waits
for the others to end and keeps new ones out until it is done."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    def __init__(self, n: int) -> None:
        self.n = n
        self.keys: set[str] = set()  # inputs being worked on (never taken twice at once)
        self._cond = threading.Condition()
        self._solo_waiting = 0
        self._solo = False

    def __len__(self) -> int:
        return len(self.keys)

    def wait_free(self, timeout: float) -> bool:
        """True once a document may start (a slot is free and nobody needs the engine alone)."""
        with self._cond:
            return self._cond.wait_for(self._free, timeout)

    def _free(self) -> bool:
        return len(self.keys) < self.n and not self._solo and not self._solo_waiting

    def take(self, key: str) -> bool:
        with self._cond:
            if key in self.keys or not self._free():
                return False
            self.keys.add(key)
            return True

    def done(self, key: str) -> None:
        with self._cond:
            self.keys.discard(key)
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self.keys, timeout)

    @contextmanager
    def alone(self, key: str) -> Iterator[None]:
        """Called by a document already in flight: it steps out, waits until nothing else is in
        flight, and runs with the engine to itself."""
        with self._cond:
            self.keys.discard(key)
            self._solo_waiting += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self.keys and not self._solo)
            self._solo_waiting -= 1
            self._solo = True
            self.keys.add(key)
        try:
            yield
        finally:
            with self._cond:
                self._solo = False
                self._cond.notify_all()
