"""The daemon: discover -> claim -> fetch -> convert -> publish -> record."""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from pathlib import Path, PurePosixPath
from typing import TypeVar

import structlog

from processor.errors import ConversionError, EngineUnavailable, error_info
from watcher import outcome
from watcher.checkpoints import Checkpoints, convert_resuming
from watcher.claims import Claim, Claims, Skip
from watcher.engine_host import CrashedInCompany, EngineHost, Interrupted
from watcher.inflight import InFlight
from watcher.input_moves import move_input
from watcher.lease import kept_alive
from watcher.manifest import Manifest, PagesSummary, Stage, Status
from watcher.metrics import Metrics
from watcher.publish import Fenced, publish, remove_stale
from watcher.settings import Settings
from watcher.sources import Sources, build_sources
from watcher.storage import NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError

log = structlog.get_logger("docwatch")
_MAX_STORAGE_FAULTS = 3  # --once gives a version up after this many storage faults
_FAULT_BACKOFF, _FAULT_BACKOFF_MAX = 2.0, 300.0  # seconds before a faulted version is tried again
_STAGE_TRIES, _STAGE_BACKOFF = 3, 1.0  # seconds, doubling
# inputs up to this size are fetched alongside their claim: a round trip less before the engine
# sees them; a claim that loses throws the download away, so larger inputs wait for the claim
_FETCH_WITH_CLAIM_MAX = 16 * 1024 * 1024
T = TypeVar("T")


class Daemon:
    def __init__(self, settings: Settings, source: Storage, sink: Storage, engine: EngineHost, metrics: Metrics,
                 sources: Sources | None = None):
        self.s, self.source, self.sink, self.engine, self.metrics = settings, source, sink, engine, metrics
        self.claims = Claims(sink, settings.worker_id, settings.lease_seconds, settings.max_attempts,
                             settings.max_lapses)
        # where input versions come from (app.py builds them; the listing alone when not given)
        self.discovery = sources or build_sources(settings, source, sink, metrics)
        self.done = self.discovery.done
        self.stopping = threading.Event()
        self.wake = self.discovery.wake  # a source with news wakes the loop
        self._stop_at: float | None = None
        self.in_flight = InFlight(settings.documents_in_flight)
        # one thread per document in flight: a fetch never waits for another document's
        self._fetchers = ThreadPoolExecutor(settings.documents_in_flight, thread_name_prefix="fetch")
        self._in_hand: dict[str, str] = {}  # key -> etag of the version a document thread has
        self._look_again = False  # a version was passed over while another of its key was in hand
        self._worked = 0  # documents claimed and worked on this round (--once)
        self._faults: dict[tuple[str, str], tuple[int, float]] = {}  # version -> (faults, retry at)
        # readiness: the last listing or lease renewal that worked, and the last that did not
        self.storage_ok_at: float | None = None
        self.storage_failed_at: float | None = None

    # -- the loop ----------------------------------------------------------------
    def run(self, *, once: bool = False) -> None:
        """Poll until stopped (``once``: until nothing is left to claim). Up to ``concurrency``
        documents are worked on at once, each in its own thread: while one is converted the next
        is fetched and the last published, and the engine sees the pages of all of them. Nothing
        outside one document's own work can end the loop: an outage or a dead engine only pause it."""
        with ThreadPoolExecutor(self.s.documents_in_flight, thread_name_prefix="document") as pool:
            while not self.stopping.is_set():
                if not self.engine.ready.is_set():  # down or restarting: claim nothing meanwhile
                    if once and self.engine.down_since is not None and not len(self.in_flight):
                        break
                    self.engine.revive_if_due()  # on this thread: see EngineHost.revive_if_due
                    self._nap(1.0)
                    continue
                waited = self._start_all(pool, self.discover())
                if once:  # a round: what was found, worked to its end
                    while not self.in_flight.wait_idle(0.5):
                        self.engine.revive_if_due()
                    if not self._worked and not self.discovery.unsettled and not self._deferred_pending():
                        break
                    self._worked = 0
                elif not waited:  # (after waiting for a slot, look again at once: more may have arrived)
                    self._nap(min(self.s.poll_interval, 0.5) if self.discovery.unsettled else self.s.poll_interval)
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
            self.discovery.slot_freed()  # a queue takes its next messages now
            # a slot is free; look again now only for news: this version still to do (released,
            # retrying) or another version passed over meanwhile. A finished document, or one
            # another worker holds, is no news: looking again at once spun on a held document.
            if self._look_again or (worked and item not in self.done):
                self._look_again = False
                self.wake.set()

    def _nap(self, seconds: float) -> None:
        self.wake.wait(seconds)
        self.wake.clear()

    def discover(self) -> list[ObjectInfo]:
        try:
            with self._timed(None, Stage.DISCOVER):
                if (loaded := self.done.refresh()) is not None:
                    log.info("index.loaded", done_versions=loaded)
                items = self.discovery.poll()
        except Exception as exc:  # storage down: keep the daemon up, try again next poll
            self.metrics.polls.labels("error").inc()
            self.storage_failed_at = time.monotonic()
            log.error("poll.failed", error=str(exc), error_type=type(exc).__name__)
            return []
        self.metrics.polls.labels("ok").inc()
        self._storage_answered()
        self.metrics.queue_depth.set(len(items))
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
            delay = min(_FAULT_BACKOFF * 2 ** (faults - 1), _FAULT_BACKOFF_MAX)
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
        """Claim and work one input version; False when it was not ours to take. The input is
        spooled to a file, never held whole in memory or sent over a pipe."""
        with tempfile.TemporaryDirectory(prefix="docwatch-") as spool:
            spooled = Path(spool) / "input"
            early = self._fetch_alongside_claim(item, spooled)
            try:
                return self._claimed(item, spooled, early)
            finally:
                if early is not None and not early.cancel():
                    wait([early])  # (a lost claim's download ends before its spool is removed)

    def _fetch_alongside_claim(self, item: ObjectInfo, spooled: Path) -> Future | None:
        if item.size > _FETCH_WITH_CLAIM_MAX or not self.claims.likely_new(item.key):
            return None
        return self._fetchers.submit(self._fetch, item, spooled, log.bind(key=item.key))

    def _fetch(self, item: ObjectInfo, spooled: Path, bound) -> None:
        self._retried(Stage.FETCH, lambda: self.source.download(item.key, spooled), bound)

    def _claimed(self, item: ObjectInfo, spooled: Path, early: Future | None) -> bool:
        timings: dict[Stage, float] = {}
        with self._timed(timings, Stage.CLAIM):
            claim = self.claims.try_claim(item, f"{self.source.uri.rstrip('/')}/{item.key}")
        self.discovery.settled(item, claimed=not isinstance(claim, Skip))  # an event source lets go of it
        if isinstance(claim, Skip):
            self.metrics.skips.labels(claim.value).inc()
            if claim is Skip.GAVE_UP:
                self.metrics.documents.labels(Status.FAILED.value).inc()
                log.error("document.failed", key=item.key, error_type="WorkerLost",
                          error="its workers kept dying on it; recorded as failed")
                self.done.mark(item)
            if claim is Skip.DONE:
                self.done.remember(item)
            return False
        bound = log.bind(key=item.key, attempt=claim.manifest.attempts, worker=self.s.worker_id)
        bound.info("document.claimed", size=item.size)
        # a document that crashed the engine in company, or whose worker died, runs alone
        alone = self.in_flight.alone(item.key) if claim.manifest.solo else nullcontext()
        with kept_alive(claim, claim.lock, self.metrics, on_renewed=self._storage_answered,
                        on_fault=self._storage_failed), alone:
            if claim.manifest.solo:
                bound.info("document.alone", detail="runs with the engine to itself (a crash or lapse in company)")
            manifest = self.attempt(claim, item, spooled, early, timings, bound)
        with self._timed(timings, Stage.RECORD), claim.lock:
            recorded = claim.finish(manifest)
        self.record(item, claim, recorded, bound)
        return True

    def attempt(self, claim: Claim, item: ObjectInfo, spooled: Path, early: Future | None,
                timings: dict[Stage, float], bound) -> Manifest:
        """``work``, with every way it can end turned into the manifest to record."""
        try:
            return self.work(claim, item, spooled, early, timings, bound)
        except Fenced as exc:
            bound.warning("document.fenced", output=str(exc), detail="another worker owns the document now")
            return claim.manifest
        except (Interrupted, EngineUnavailable) as exc:  # never the document's fault: not an attempt
            bound.warning("document.releasing", reason=str(exc))
            return outcome.released(claim.manifest)
        except CrashedInCompany as exc:  # maybe its fault, maybe another's: it runs alone next
            bound.warning("document.releasing", reason=str(exc), next_attempt="alone")
            return outcome.released(claim.manifest, alone=True)
        except Exception as exc:  # noqa: BLE001 - every failure ends in the manifest
            error = error_info(exc)
            bound.error("document.error", error_type=error.type, error=error.message, retryable=error.retryable)
        return outcome.failed(claim.manifest, error, timings, self.s.max_attempts, self.s.retry_backoff_seconds)

    def work(self, claim: Claim, item: ObjectInfo, spooled: Path, early: Future | None, timings: dict[Stage, float],
             bound) -> Manifest:
        """fetch -> convert (resuming from page checkpoints) -> publish; the manifest to record."""
        with self._timed(timings, Stage.FETCH):  # (for an input fetched alongside its claim: the wait left)
            try:
                early.result() if early is not None else self._fetch(item, spooled, bound)
            except NotFound:  # only here does "not found" mean the input is gone
                raise ConversionError(f"the input {item.key} disappeared before it could be read") from None
        with spooled.open("rb") as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        size = spooled.stat().st_size
        bound.info("document.fetched", bytes=size, seconds=round(timings[Stage.FETCH], 3))
        with claim.lock:  # from now on every manifest of this attempt names the bytes
            claim.manifest = m = claim.manifest.model_copy(
                update={"source": claim.manifest.source.model_copy(update={"sha256": sha256})})
        prev = claim.previous
        if prev and prev.status is Status.SUCCEEDED and prev.source.sha256 == sha256:
            bound.info("document.unchanged", sha256=sha256)
            return outcome.unchanged(m, prev, timings)
        # before the engine is spent on it: a claim not confirmed for half a lease (a long wait to
        # run alone, a slow fetch, a partition) may have passed to another worker meanwhile
        if claim.lost or (time.monotonic() - claim.confirmed_at > claim.lease_seconds / 2 and not self._prove(claim)):
            return m
        bound.info("document.convert.start", bytes=size)
        checkpoints = Checkpoints(self.sink, item.key, sha256)
        with self._timed(timings, Stage.CONVERT):
            doc, resumed = convert_resuming(self.engine, checkpoints, spooled, PurePosixPath(item.key).name,
                                            self._should_abort, bound,
                                            progress=lambda done, total: self._progress(claim, done, total),
                                            still_ours=lambda: not claim.lost,
                                            # a manifest this claim created: no attempt came before
                                            resume=claim.previous is not None)
        bound.info("document.converted", pages=len(doc.pages), failed_pages=len(doc.failed_pages),
                   resumed_pages=resumed, seconds=round(timings[Stage.CONVERT], 3))
        if claim.lost:  # another worker owns the document now: never overwrite its outputs
            return m
        if (passing := outcome.passing_failures(doc)) and m.attempts < self.s.max_attempts:
            return outcome.failed(m, passing, timings, self.s.max_attempts, self.s.retry_backoff_seconds)
        with self._timed(timings, Stage.PUBLISH):
            outputs = self._retried(Stage.PUBLISH, lambda: publish(
                self.sink, item.key, doc, m.outputs, lambda: self._prove(claim), checkpoints.figure), bound)
        bound.info("document.published", outputs=len(outputs), seconds=round(timings[Stage.PUBLISH], 3))
        return outcome.succeeded(m, doc, outputs, timings)

    def record(self, item: ObjectInfo, claim: Claim, recorded: bool, bound) -> None:
        m = claim.manifest
        if not recorded:
            bound.warning("document.lease_lost", detail="another worker took the document over; result dropped")
            return
        self.metrics.documents.labels(m.status.value).inc()
        if m.status is Status.QUEUED:
            bound.info("document.released")
            return
        self.metrics.pages.labels("ok").inc(m.pages.done)
        self.metrics.pages.labels("failed").inc(len(m.pages.failed))
        timings = {k.value: round(v, 3) for k, v in m.timings.items()}
        if m.status is Status.FAILED and m.next_attempt_at:
            self.metrics.retries.labels("document").inc()
            self.discovery.retry_at(item, m.next_attempt_at)
            bound.warning("document.retry_scheduled", error=m.error.message if m.error else None,
                          next_attempt_at=m.next_attempt_at.isoformat())
            return
        event = "document.succeeded" if m.status is Status.SUCCEEDED else "document.failed"
        getattr(bound, "info" if m.status is Status.SUCCEEDED else "error")(
            event, pages=m.pages.total, failed_pages=len(m.pages.failed), timings=timings,
            **({"error_type": m.error.type, "error": m.error.message} if m.error else {}),
        )
        self.done.mark(item)
        if m.status is Status.SUCCEEDED:
            self._tidy(item.key, claim.previous, m, bound)
        move_input(self.source, self.s, item, m.status)

    def _tidy(self, key: str, previous: Manifest | None, m: Manifest, bound) -> None:
        """After success: outputs the new version no longer has, and the page checkpoints (a
        one-page document, now or before, never had any: no listing for it)."""
        try:
            if removed := remove_stale(self.sink, previous.outputs if previous else [], m.outputs):
                bound.info("outputs.removed_stale", keys=removed)
            if m.pages.total > 1 or (previous is not None and previous.pages.total != 1):
                Checkpoints(self.sink, key, m.source.sha256 or "").clear()
        except Exception as exc:  # noqa: BLE001 - a leftover file is untidy, not wrong: the manifest is the truth
            bound.warning("outputs.tidy_failed", error=str(exc))

    def _progress(self, claim: Claim, done: int, total: int) -> None:
        """Pages done so far: written with the next lease renewal, so `docwatch status` shows it."""
        with claim.lock:
            claim.manifest.pages = PagesSummary(total=total, done=done)

    def _prove(self, claim: Claim) -> bool:
        """Renew the lease now: True only if the store confirms the claim is still ours."""
        with claim.lock:
            kept = claim.renew()
        if kept and claim.renew_faulted:
            raise StorageError("the claim could not be confirmed before overwriting an output")
        return kept

    def _retried(self, stage: Stage, fn: Callable[[], T], bound) -> T:
        """Storage stages are retried in place (botocore already retried each request), so a
        passing fault after a long conversion does not throw the conversion away."""
        for attempt in range(1, _STAGE_TRIES + 1):
            try:
                return fn()
            except (NotFound, PreconditionFailed):
                raise  # answers, not faults
            except Exception as exc:  # noqa: BLE001
                if attempt == _STAGE_TRIES:
                    raise
                if self.stopping.wait(_STAGE_BACKOFF * 2 ** (attempt - 1)):
                    raise Interrupted(f"stopping during the {stage.value} back-off") from exc
                self.metrics.retries.labels("stage").inc()
                bound.warning("stage.retry", stage=stage.value, attempt=attempt, error_type=type(exc).__name__,
                              error=str(exc))
        raise AssertionError("unreachable")

    def _storage_answered(self) -> None:
        self.storage_ok_at = time.monotonic()

    def _storage_failed(self) -> None:
        self.storage_failed_at = time.monotonic()

    def storage_ok(self, within: float) -> bool:
        """Readiness: storage answered within ``within`` seconds, and its latest answer was not a fault."""
        ok, failed = self.storage_ok_at, self.storage_failed_at
        return ok is not None and time.monotonic() - ok < within and (failed is None or ok > failed)

    # -- stopping ----------------------------------------------------------------
    def stop(self) -> None:
        """First call: finish the document in hand (up to the grace period). Second: release it now."""
        if self.stopping.is_set():
            self._stop_at = time.monotonic()
        else:
            self._stop_at = time.monotonic() + self.s.shutdown_grace_seconds
            self.stopping.set()
        self.wake.set()

    def _should_abort(self) -> bool:
        return self._stop_at is not None and time.monotonic() >= self._stop_at

    @contextmanager
    def _timed(self, timings: dict[Stage, float] | None, stage: Stage) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.metrics.stage_seconds.labels(stage.value).observe(seconds)
            if timings is not None:
                timings[stage] = seconds
