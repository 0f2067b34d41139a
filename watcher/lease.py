"""Keep a claim's lease alive from a background thread while the document is worked on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from watcher.claims import Claim
from watcher.heartbeat import Heartbeats
from watcher.metrics import Metrics

log = structlog.get_logger("docwatch.lease")


@contextmanager
def kept_alive(
    claim: Claim,
    metrics: Metrics,
    on_renewed: Callable[[], None] = lambda: None,
    on_fault: Callable[[], None] = lambda: None,
    heartbeats: Heartbeats | None = None,
) -> Iterator[None]:
    """Renew every third of the lease (``Claim`` serialises renewals with the worker's own
    manifest writes, since both compare-and-swap the same object). The renewer ticks
    ``heartbeats`` before and after each renewal: one that has not ticked within two periods is
    stuck (a renewal that never returns), and the daemon is not alive."""
    stop = threading.Event()
    period = claim.lease_seconds / 3
    beat = f"lease renewer of {claim.manifest.source.key}"
    tick = (lambda: heartbeats.tick(beat, 2 * period)) if heartbeats else (lambda: None)
    forget = (lambda: heartbeats.forget(beat)) if heartbeats else (lambda: None)

    def renew() -> None:
        while not stop.wait(period):
            tick()
            ok = claim.renew()
            tick()
            faulted = ok and claim.renew_faulted
            metrics.lease_renewals.labels("fault" if faulted else "ok" if ok else "lost").inc()
            if faulted:
                on_fault()
            elif ok:
                on_renewed()
            if not ok:  # ends on purpose: no more ticks to expect
                forget()
                log.warning("lease.lost", key=claim.manifest.source.key)
                return

    tick()
    thread = threading.Thread(target=renew, name="lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        forget()
