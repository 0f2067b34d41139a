"""The daemon's loop: discover -> hand each version to an ``Attempt`` (claim -> fetch -> convert
-> publish -> record), as many at once as there are slots; an outage or a dead engine only pauses it."""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import structlog

from processor.backoff import backoff
from watcher.attempt import Attempt, Crew, StorageHealth, timed
from watcher.claims import Claims
from watcher.engine_host import EngineHost
from watcher.heartbeat import LOOP, loop_bound
from watcher.inflight import InFlight
from watcher.manifest import Stage
from watcher.metrics import Metrics
from watcher.notify.notifier import Notifier
from watcher.settings import Settings
from watcher.sources.hub import Sources, build_sources
from watcher.storage import ObjectInfo, Storage

log = structlog.get_logger("docwatch")
_MAX_STORAGE_FAULTS = 3  # --once gives a version up after this many storage faults
_FAULT_BACKOFF, _FAULT_BACKOFF_MAX = 2.0, 300.0  # seconds before a faulted version is tried again


class Daemon:
    """The long-running loop: finds input versions, starts an ``Attempt`` for each while slots
    are free, keeps the engine alive between them, and stops gracefully (finish, then release)."""

    def __init__(self, settings: Settings, source: Storage, sink: Storage, engine: EngineHost, metrics: Metrics,
                 sources: Sources | None = None, notifier: Notifier | None = None):
        self.settings, self.source, self.sink, self.engine, self.metrics = settings, source, sink, engine, metrics
        # where input versions come from (app.py builds them; the listing alone when not given)
        self.sources = sources or build_sources(settings, source, sink, metrics)
        self.stopping = threading.Event()
        self.wake = self.sources.wake  # a source with news wakes the loop
        self._stop_at: float | None = None
        self.in_flight = InFlight(settings.documents_in_flight)
        self.crew = Crew(
            settings=settings, source=source, sink=sink, engine=engine, metrics=metrics,
            claims=Claims(sink, settings.worker_id, settings.lease_seconds, settings.max_attempts,
                          settings.max_lapses),
            sources=self.sources, in_flight=self.in_flight,
            fetchers=ThreadPoolExecutor(settings.documents_in_flight, thread_name_prefix="fetch"),
            stopping=self.stopping, should_abort=self._should_abort, storage=StorageHealth(), notifier=notifier,
        )
        self._in_hand: dict[str, str] = {}  # key -> etag of the version a document thread has
        self._look_again = False  # a version was passed over while another of its key was in hand
        self._worked = 0  # documents claimed and worked on this round (--once)
        self._faults: dict[tuple[str, str], tuple[int, float]] = {}  # version -> (faults, retry at)
        # liveness: the loop ticks every iteration and every half-second while it waits (for a
        # slot, for idle, for the engine); its bound covers one storage call at its longest
        self.heartbeats = self.crew.heartbeats
        longest_call = max(getattr(store, "longest_call", 0.0) for store in (source, sink))
        self.loop_bound = loop_bound(settings.poll_interval, settings.lease_seconds, longest_call)
        engine.heartbeat = self._tick

    # -- the loop ----------------------------------------------------------------
    def run(self, *, once: bool = False) -> None:
        """Poll until stopped (``once``: until nothing is left to claim). Up to ``concurrency``
        documents are worked on at once, each in its own thread: while one is converted the next
        is fetched and the last published, and the engine sees the pages of all of them. Nothing
        outside one document's own work can end the loop: an outage or a dead engine only pause it."""
        with ThreadPoolExecutor(self.settings.documents_in_flight, thread_name_prefix="document") as pool:
            while not self.stopping.is_set():
                self._tick()
                if not self.engine.ready.is_set():  # down or restarting: claim nothing meanwhile
                    if once and self.engine.down_since is not None and not len(self.in_flight):
                        break
                    self.engine.revive_if_due()  # on this thread: see EngineHost.revive_if_due
                    self._nap(1.0)
                    continue
                waited = self._start_all(pool, self.discover())
                if once:  # a round: what was found, worked to its end
                    while not self.in_flight.wait_idle(0.5):
                        self._tick()
                        self.engine.revive_if_due()
                    if not self._worked and not self.sources.unsettled and not self._deferred_pending():
                        break
                    self._worked = 0
                elif not waited:  # (after waiting for a slot, look again at once: more may have arrived)
                    poll = self.settings.poll_interval
                    self._nap(min(poll, 0.5) if self.sources.unsettled else poll)
            pool.shutdown(wait=True)  # documents in hand finish or are released (see stop())

    def _start_all(self, pool: ThreadPoolExecutor, items: list[ObjectInfo]) -> bool:
        """Hand each found version to a document thread as slots free up; True when a slot had
        to be waited for (what was found may be stale by then)."""
        waited = False
        for item in items:
            if self._in_hand.get(item.key) == item.etag:
                continue  # being worked on
            if not self.in_flight.wait_free(0):
                waited = True
                while not self.in_flight.wait_free(0.5):
                    self._tick()
                    self.engine.revive_if_due()
                    if self.stopping.is_set():
                        return waited
            if self.stopping.is_set() or not self.engine.ready.is_set():
                break
            if self.in_flight.take(item.key):
                self._in_hand[item.key] = item.etag
                pool.submit(self._document, item)
            elif self._in_hand.get(item.key) != item.etag:
                self._look_again = True  # another version of it is in hand: look again when that one ends
        return waited

    def _document(self, item: ObjectInfo) -> None:
        worked = False
        try:
            worked = self.process_safely(item)
            self._worked += worked
        finally:
            self.in_flight.done(item.key)
            self._in_hand.pop(item.key, None)
            self.sources.slot_freed()  # a queue takes its next messages now
            # a slot is free; look again now only for news: this version still to do (released,
            # retrying) or another version passed over meanwhile. A finished document, or one
            # another worker holds, is no news: looking again at once spun on a held document.
            if self._look_again or (worked and item not in self.sources.done):
                self._look_again = False
                self.wake.set()

    def _nap(self, seconds: float) -> None:
        self._tick()  # a nap is at most a poll interval: a third of the loop's bound
        self.wake.wait(seconds)
        self.wake.clear()

    def _tick(self) -> None:
        self.heartbeats.tick(LOOP, self.loop_bound)

    def not_alive(self) -> str | None:
        """Liveness: None while the loop and every lease renewer tick within their bounds."""
        return "; ".join(self.heartbeats.stale()) or None

    def seconds_since_tick(self) -> dict[str, float]:
        return self.heartbeats.ages()

    def discover(self) -> list[ObjectInfo]:
        try:
            with timed(self.metrics, Stage.DISCOVER):
                if (loaded := self.sources.done.refresh()) is not None:
                    log.info("index.loaded", done_versions=loaded)
                items = self.sources.poll()
        except Exception as exc:  # storage down: keep the daemon up, try again next poll
            self.metrics.polls.labels("error").inc()
            self.crew.storage.failed()
            log.error("poll.failed", error=str(exc), error_type=type(exc).__name__)
            return []
        self.metrics.polls.labels("ok").inc()
        self.crew.storage.answered()
        self.metrics.queue_depth.set(len(items))
        waited = [(datetime.now(UTC) - i.modified).total_seconds() for i in items if i not in self.sources.done]
        self.metrics.oldest_queued_age.set(max(waited, default=0.0))
        now = time.monotonic()
        return [i for i in items if self._faults.get((i.key, i.etag), (0, 0.0))[1] <= now]

    def process_safely(self, item: ObjectInfo) -> bool:
        """A storage fault around one document (claim or record write) must not stop the daemon.
        The version is tried again after a back-off that doubles (capped), for as long as the
        process lives: an outage of the output store delays documents and never parks them."""
        try:
            worked = self.process(item)
        except Exception as exc:  # noqa: BLE001
            version = (item.key, item.etag)
            faults = self._faults.get(version, (0, 0.0))[0] + 1
            delay = backoff(_FAULT_BACKOFF, faults, _FAULT_BACKOFF_MAX)
            self._faults[version] = (faults, time.monotonic() + delay)
            self.metrics.retries.labels("storage_fault").inc()
            log.error("document.storage_fault", key=item.key, error_type=type(exc).__name__, error=str(exc),
                      faults=faults, retry_in=delay)
            return False
        self._faults.pop((item.key, item.etag), None)
        return worked

    def _deferred_pending(self) -> bool:
        """``--once``: versions still worth another try in this run."""
        return any(faults < _MAX_STORAGE_FAULTS for faults, _ in self._faults.values())

    def process(self, item: ObjectInfo) -> bool:
        """Claim and work one input version (an ``Attempt``); False when it was not ours to take."""
        with tempfile.TemporaryDirectory(prefix="docwatch-") as spool:
            return Attempt(self.crew, item, Path(spool) / "input").run()

    def storage_ok(self, within: float) -> bool:
        """Readiness: storage answered within ``within`` seconds, and its latest answer was not a fault."""
        return self.crew.storage.ok(within)

    # -- stopping ----------------------------------------------------------------
    def stop(self) -> None:
        """First call: finish the document in hand (up to the grace period). Second: release it now."""
        if self.stopping.is_set():
            self._stop_at = time.monotonic()
        else:
            self._stop_at = time.monotonic() + self.settings.shutdown_grace_seconds
            self.stopping.set()
        self.wake.set()

    def _should_abort(self) -> bool:
        return self._stop_at is not None and time.monotonic() >= self._stop_at
