"""Keep a claim's lease alive from a background thread while the document is worked on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from watcher.claims import Claim
from watcher.metrics import Metrics

log = structlog.get_logger("docwatch.lease")


@contextmanager
def kept_alive(
    claim: Claim,
    metrics: Metrics,
    on_renewed: Callable[[], None] = lambda: None,
    on_fault: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """Renew every third of the lease (``Claim`` serialises renewals with the worker's own
    manifest writes, since both compare-and-swap the same object)."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(claim.lease_seconds / 3):
            ok = claim.renew()
            faulted = ok and claim.renew_faulted
            metrics.lease_renewals.labels("fault" if faulted else "ok" if ok else "lost").inc()
            if faulted:
                on_fault()
            elif ok:
                on_renewed()
            if not ok:
                log.warning("lease.lost", key=claim.manifest.source.key)
                return

    thread = threading.Thread(target=renew, name="lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
