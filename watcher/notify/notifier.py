"""Deliver completion events from the outbox, in a thread of their own: a failed delivery is
retried with back-off and counted, and never holds up a conversion."""

from __future__ import annotations

import queue
import threading
import time

import structlog

from processor.backoff import backoff
from processor.redact import redact_urls
from watcher.manifest import Manifest, Status, utcnow
from watcher.metrics import Metrics
from watcher.notify.outbox import Outbox, OutboxEntry
from watcher.notify.targets import Send
from watcher.storage import NotFound, Storage

log = structlog.get_logger("docwatch.notify")
_RETRY_FIRST, _RETRY_MOST = 2.0, 300.0  # seconds: bound of the first wait, and of the longest


class Notifier:
    """Takes the outbox keys of events whose manifest was just written, and looks through the
    outbox every ``scan_interval`` for the rest (a crash's leftovers, another replica's, an
    outage's). An event is sent only while its manifest still says what the event says (the same
    claim, final); one whose claim was superseded is dropped."""

    def __init__(self, sink: Storage, targets: dict[str, Send], metrics: Metrics, stopping: threading.Event,
                 scan_interval: float = 60.0) -> None:
        self.sink, self.outbox, self.targets, self.metrics = sink, Outbox(sink), targets, metrics
        self.stopping, self.scan_interval = stopping, scan_interval
        self._due: queue.Queue[str] = queue.Queue()
        self._retry: dict[str, tuple[int, float]] = {}  # key -> (failed rounds, next try at)
        self.thread = threading.Thread(target=self._run, name="notify", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def written(self, entry: OutboxEntry) -> None:
        """Write ``entry`` to the outbox: before its manifest (a kill -9 after that still sends it)."""
        self.outbox.put(entry)

    def recorded(self, event_id: str) -> None:
        """Its manifest is written: send it now."""
        self._due.put(Outbox.key(event_id))

    def close(self, grace: float) -> None:
        """Stop the thread; then, within ``grace`` seconds, try once more what is in the outbox
        (what is left stays there for the next start, or another replica)."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=grace)
        deadline = time.monotonic() + grace
        for key in self._scan():
            if time.monotonic() >= deadline:
                break
            self._deliver(key)

    def _run(self) -> None:
        next_scan = 0.0  # at start: what an earlier run left
        while not self.stopping.is_set():
            if time.monotonic() >= next_scan:
                keys = self._scan()
                next_scan = time.monotonic() + self.scan_interval
            else:
                try:
                    keys = [self._due.get(timeout=min(1.0, max(next_scan - time.monotonic(), 0.01)))]
                except queue.Empty:
                    keys = [k for k, (_, at) in list(self._retry.items()) if at <= time.monotonic()]
            for key in keys:
                if self.stopping.is_set():
                    return
                self._deliver(key)

    def _scan(self) -> list[str]:
        try:
            return self.outbox.keys()
        except Exception as exc:  # noqa: BLE001 - the store is down: look again later
            log.warning("notify.scan_failed", error=str(exc))
            return []

    def _deliver(self, key: str) -> None:
        try:
            loaded = self.outbox.load(key)
            if loaded is None:
                self._retry.pop(key, None)
                return
            entry, etag = loaded
            verdict = self._verdict(entry)
            if verdict == "wait":
                self._retry[key] = (self._retry.get(key, (0, 0.0))[0], time.monotonic() + 1.0)
                return
            if verdict == "drop":
                log.info("notify.dropped", event_id=entry.event.event_id, reason="its claim did not end with it")
                self.outbox.remove(key, etag)
                self._retry.pop(key, None)
                return
        except Exception as exc:  # noqa: BLE001 - the store is down: try again later
            return self._failed(key, "store", exc)
        body = entry.event.model_dump_json().encode()
        failed = None
        for name, send in self.targets.items():
            if name in entry.delivered:
                continue
            try:
                send(body, entry.event)
            except Exception as exc:  # noqa: BLE001 - counted, retried; never the conversion's business
                failed = failed or (name, exc)
                self.metrics.notifications.labels(name, "failed").inc()
                continue
            entry.delivered.append(name)
            self.metrics.notifications.labels(name, "sent").inc()
            log.info("notify.sent", target=name, event_id=entry.event.event_id, key=entry.event.input.key)
        try:
            if failed is None:
                self.outbox.remove(key)
                self._retry.pop(key, None)
                return
            self.outbox.update(key, entry, etag)  # what was delivered is not sent again
        except Exception:  # noqa: BLE001 - the entry stays: at worst a target gets it twice
            pass
        self._failed(key, failed[0], failed[1])

    def _verdict(self, entry: OutboxEntry) -> str:
        """"send" while the event's manifest is final from the same claim with the event's status;
        "wait" while that claim is still writing it; "drop" once another claim has taken over."""
        try:
            data, _ = self.sink.get(entry.event.manifest_key)
        except NotFound:
            return "drop"
        manifest = Manifest.from_bytes(data)
        if manifest.fence != entry.fence:
            return "drop"
        if manifest.status is Status.PROCESSING:
            lease = manifest.lease
            return "wait" if lease is not None and lease.expires_at > utcnow() else "drop"
        return "send" if manifest.status.value == entry.event.status else "drop"

    def _failed(self, key: str, target: str, exc: Exception) -> None:
        rounds = self._retry.get(key, (0, 0.0))[0] + 1
        wait = backoff(_RETRY_FIRST, rounds, _RETRY_MOST)
        self._retry[key] = (rounds, time.monotonic() + wait)
        log.warning("notify.failed", target=target, key=key, error=redact_urls(str(exc)), retry_in=round(wait, 1))

