"""One attempt at one input version, top to bottom: claim -> fetch -> convert -> publish -> record.

The daemon's loop hands each version it finds to an ``Attempt``; everything that attempt knows
(its claim, the spooled input, the download started alongside the claim, its timings, its log)
is a field here, not an argument passed from step to step.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

import structlog

from processor.backoff import backoff
from processor.document import Document
from processor.errors import ConversionError, EngineUnavailable, error_info
from processor.render.review import markdown_by_page, page_images, render_review
from watcher import outcome
from watcher.checkpoints import Checkpoints
from watcher.claims import Claim, Claims, Skip
from watcher.engine_host import CrashedInCompany, EngineHost, Interrupted
from watcher.events import FINAL, CompletionEvent, event_from_manifest
from watcher.heartbeat import Heartbeats
from watcher.inflight import InFlight
from watcher.input_moves import move_input
from watcher.lease import kept_alive
from watcher.manifest import Manifest, Stage, Status, utcnow
from watcher.metrics import Metrics
from watcher.notify.notifier import Notifier
from watcher.notify.outbox import OutboxEntry
from watcher.publish import Fenced, publish, remove_stale
from watcher.resuming import ResumingConversion
from watcher.settings import Settings
from watcher.sources.hub import Sources
from watcher.storage import NotFound, ObjectInfo, PreconditionFailed, Storage

log = structlog.get_logger("docwatch")
_STAGE_TRIES, _STAGE_BACKOFF = 3, 1.0  # seconds: the first back-off's bound, doubling
# inputs up to this size are fetched alongside their claim: a round trip less before the engine
# sees them; a claim that loses throws the download away, so larger inputs wait for the claim
_FETCH_WITH_CLAIM_MAX = 16 * 1024 * 1024
T = TypeVar("T")


class InputChanged(Exception):
    """The input key holds another version than the one claimed (an upload landed between the
    claim and the fetch): this attempt is released, and the new version is claimed afresh."""


class StorageHealth:
    """When the stores last answered (a listing, a lease renewal) and last faulted: readiness."""

    def __init__(self) -> None:
        self.ok_at: float | None = None
        self.failed_at: float | None = None

    def answered(self) -> None:
        self.ok_at = time.monotonic()

    def failed(self) -> None:
        self.failed_at = time.monotonic()

    def ok(self, within: float) -> bool:
        """Storage answered within ``within`` seconds, and its latest answer was not a fault."""
        ok, failed = self.ok_at, self.failed_at
        return ok is not None and time.monotonic() - ok < within and (failed is None or ok > failed)


@dataclass
class Crew:
    """What every attempt shares with the daemon's loop."""

    settings: Settings
    source: Storage
    sink: Storage
    engine: EngineHost
    metrics: Metrics
    claims: Claims
    sources: Sources
    in_flight: InFlight
    fetchers: ThreadPoolExecutor  # one thread per document in flight: a fetch never waits for another's
    stopping: threading.Event
    should_abort: Callable[[], bool]  # past the shutdown grace: abandon the conversion
    storage: StorageHealth
    notifier: Notifier | None = None  # completion events, when configured
    heartbeats: Heartbeats = field(default_factory=Heartbeats)  # the loop's and the lease renewers'


class Attempt:
    """One input version from claim to record. ``run`` returns False when it was not ours to take."""

    def __init__(self, crew: Crew, item: ObjectInfo, spooled: Path) -> None:
        self.crew, self.item, self.spooled = crew, item, spooled
        self.timings: dict[Stage, float] = {}
        self.log = log.bind(key=item.key)
        self.claim: Claim | None = None
        self.early: Future | None = None  # the download started alongside the claim
        self.checkpoints: Checkpoints | None = None  # this version's, once it is converted
        self.replaced = False  # the key held another version when it was fetched

    def run(self) -> bool:
        """The input is spooled to a file, never held whole in memory or sent over a pipe."""
        self.early = self._fetch_alongside_claim()
        try:
            return self._claimed()
        finally:
            if self.early is not None and not self.early.cancel():
                wait([self.early])  # (a lost claim's download ends before its spool is removed)

    # -- claim ---------------------------------------------------------------------
    def _fetch_alongside_claim(self) -> Future | None:
        if self.item.size > _FETCH_WITH_CLAIM_MAX or not self.crew.claims.likely_new(self.item.key):
            return None
        return self.crew.fetchers.submit(self._download)

    def _claimed(self) -> bool:
        crew, item = self.crew, self.item
        with timed(crew.metrics, Stage.CLAIM, self.timings):
            claim = crew.claims.try_claim(item, f"{crew.source.uri.rstrip('/')}/{item.key}")
        crew.sources.settled(item, claimed=not isinstance(claim, Skip))  # an event source lets go of it
        if isinstance(claim, Skip):
            self._skipped(claim)
            return False
        self.claim = claim
        self.log = self.log.bind(attempt=claim.manifest.attempts, worker=crew.settings.worker_id)
        self.log.info("document.claimed", size=item.size)
        # a document that crashed the engine in company, or whose worker died, runs alone
        alone = crew.in_flight.alone(item.key) if claim.manifest.solo else nullcontext()
        with kept_alive(claim, crew.metrics, on_renewed=crew.storage.answered, on_fault=crew.storage.failed,
                        heartbeats=crew.heartbeats), alone:
            if claim.manifest.solo:
                self.log.info("document.alone", detail="runs with the engine to itself (a crash or lapse in company)")
            manifest = self._attempt()
        with timed(crew.metrics, Stage.RECORD, self.timings):
            event = self._to_outbox(claim, manifest)  # before the manifest: a crash after it still sends it
            recorded = claim.finish(manifest)
        self._record(recorded)
        if recorded and event is not None and crew.notifier is not None:
            crew.notifier.recorded(event.event_id)
        return True

    def _to_outbox(self, claim: Claim, manifest: Manifest) -> CompletionEvent | None:
        """The completion event of a final manifest (a retry scheduled is not final), in the outbox."""
        notifier = self.crew.notifier
        if notifier is None or manifest.status not in FINAL or manifest.next_attempt_at is not None:
            return None
        event = event_from_manifest(manifest, claim.key)
        self._retried(Stage.RECORD, lambda: notifier.written(OutboxEntry(event, manifest.fence)))
        return event

    def _skipped(self, why: Skip) -> None:
        self.crew.metrics.skips.labels(why.value).inc()
        if why is Skip.GAVE_UP:
            self.crew.metrics.documents.labels(Status.FAILED.value).inc()
            self.crew.metrics.failures.labels("WorkerLost").inc()
            self.crew.metrics.observe_upload_to_result(self.item.modified, Status.FAILED.value)
            self.log.error("document.failed", error_type="WorkerLost",
                           error="its workers kept dying on it; recorded as failed")
            self.crew.sources.done.mark(self.item)
        if why is Skip.DONE:
            self.crew.sources.done.remember(self.item)

    def _attempt(self) -> Manifest:
        """``_work``, with every way it can end turned into the manifest to record."""
        claim, s = self.claim, self.crew.settings
        assert claim is not None
        try:
            return self._work(claim)
        except Fenced as exc:
            self.log.warning("document.fenced", output=str(exc), detail="another worker owns the document now")
            return claim.manifest
        except InputChanged as exc:  # not an attempt: the new version is offered in its place
            self.log.warning("document.releasing", reason=str(exc), next_attempt="the new version")
            self.replaced = True
            return outcome.released(claim.manifest)
        except (Interrupted, EngineUnavailable) as exc:  # never the document's fault: not an attempt
            self.log.warning("document.releasing", reason=str(exc))
            return outcome.released(claim.manifest)
        except CrashedInCompany as exc:  # maybe its fault, maybe another's: it runs alone next
            self.log.warning("document.releasing", reason=str(exc), next_attempt="alone")
            return outcome.released(claim.manifest, alone=True)
        except Exception as exc:  # noqa: BLE001 - every failure ends in the manifest
            error = error_info(exc)
            self.log.error("document.error", error_type=error.type, error=error.message, retryable=error.retryable)
        return outcome.failed(claim.manifest, error, self.timings, s.max_attempts, s.retry_backoff_seconds)

    # -- fetch -> convert -> publish --------------------------------------------------
    def _work(self, claim: Claim) -> Manifest:
        """fetch -> convert (resuming from page checkpoints) -> publish; the manifest to record."""
        crew, s = self.crew, self.crew.settings
        sha256 = self._fetched()
        manifest = claim.amend(source=claim.manifest.source.model_copy(update={"sha256": sha256}))
        previous = claim.previous
        if previous and previous.status is Status.SUCCEEDED and previous.source.sha256 == sha256:
            self.log.info("document.unchanged", sha256=sha256)
            return outcome.unchanged(manifest, previous, self.timings)
        # before the engine is spent on it: a claim not confirmed for half a lease (a long wait to
        # run alone, a slow fetch, a partition) may have passed to another worker meanwhile
        if claim.lost or (time.monotonic() - claim.confirmed_at > claim.lease_seconds / 2 and not claim.prove()):
            return manifest
        self.log.info("document.convert.start", bytes=self.spooled.stat().st_size)
        checkpoints = self.checkpoints = Checkpoints(crew.sink, self.item.key, sha256, crew.engine.info,
                                                     s.figure_dpi)
        with timed(crew.metrics, Stage.CONVERT, self.timings):
            # a manifest this claim created: no attempt came before, no checkpoints to look for
            conversion = ResumingConversion(checkpoints, claim, self.log, resume=previous is not None)
            doc, resumed = conversion.run(crew.engine, self.spooled, PurePosixPath(self.item.key).name,
                                          crew.should_abort)
        self.log.info("document.converted", pages=len(doc.pages), failed_pages=len(doc.failed_pages),
                      resumed_pages=resumed, seconds=round(self.timings[Stage.CONVERT], 3))
        if claim.lost:  # another worker owns the document now: never overwrite its outputs
            return manifest
        if (passing := outcome.passing_failures(doc)) and manifest.attempts < s.max_attempts:
            return outcome.failed(manifest, passing, self.timings, s.max_attempts, s.retry_backoff_seconds)
        with timed(crew.metrics, Stage.PUBLISH, self.timings):
            review = self._review_page(doc, checkpoints) if s.document.review else None
            outputs = self._retried(Stage.PUBLISH, lambda: publish(
                crew.sink, self.item.key, doc, manifest.outputs, claim.prove, checkpoints.figure, manifest.fence,
                review))
        self.log.info("document.published", outputs=len(outputs), seconds=round(self.timings[Stage.PUBLISH], 3))
        return outcome.succeeded(manifest, doc, outputs, self.timings)

    def _review_page(self, doc: Document, checkpoints: Checkpoints) -> Callable[[], str]:
        """Makes review.html: each page drawn from the spooled input, its blocks over it."""

        def make() -> str:
            try:
                images: list[bytes | None] = list(page_images(self.spooled))
            except Exception as exc:  # noqa: BLE001 - an input MuPDF cannot draw: grey pages, boxes still drawn
                self.log.warning("review.no_page_images", error=str(exc))
                images = []
            drawn = [images[p.number - 1] if p.number <= len(images) else None for p in doc.pages]
            figures = {a.path: checkpoints.figure(a) for a in doc.assets}
            return render_review(doc, drawn, markdown_by_page(doc), assets=figures, title=self.item.key)

        return make

    def _fetched(self) -> str:
        """The input in the spool (waiting for the download started alongside the claim, if
        any); its sha256."""
        with timed(self.crew.metrics, Stage.FETCH, self.timings):  # (fetched alongside: the wait left)
            try:
                self.early.result() if self.early is not None else self._download()
            except NotFound:  # only here does "not found" mean the input is gone
                raise ConversionError(f"the input {self.item.key} disappeared before it could be read") from None
            except PreconditionFailed:
                raise InputChanged(f"{self.item.key} was replaced after it was claimed") from None
        with self.spooled.open("rb") as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        self.log.info("document.fetched", bytes=self.spooled.stat().st_size,
                      seconds=round(self.timings[Stage.FETCH], 3))
        return sha256

    def _download(self) -> None:
        # only the version claimed: what is converted is what the manifest names
        self._retried(Stage.FETCH, lambda: self.crew.source.download(self.item.key, self.spooled,
                                                                     etag=self.item.etag))

    def _retried(self, stage: Stage, fn: Callable[[], T]) -> T:
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
                if self.crew.stopping.wait(backoff(_STAGE_BACKOFF, attempt)):
                    raise Interrupted(f"stopping during the {stage.value} back-off") from exc
                self.crew.metrics.retries.labels("stage").inc()
                self.log.warning("stage.retry", stage=stage.value, attempt=attempt, error_type=type(exc).__name__,
                                 error=str(exc))
        raise AssertionError("unreachable")

    # -- record ---------------------------------------------------------------------
    def _record(self, recorded: bool) -> None:
        crew, item, claim = self.crew, self.item, self.claim
        assert claim is not None
        m = claim.manifest
        if not recorded:
            self.log.warning("document.lease_lost", detail="another worker took the document over; result dropped")
            return
        crew.metrics.documents.labels(m.status.value).inc()
        if m.status is Status.QUEUED:
            self.log.info("document.released")
            if self.replaced:  # its announcement may have been settled while this one was held
                self._offer_current_version()
            return
        crew.metrics.pages.labels("ok").inc(m.pages.done)
        crew.metrics.pages.labels("failed").inc(len(m.pages.failed))
        for stage, count in m.pages.fallbacks.items():
            crew.metrics.page_fallbacks.labels(stage).inc(count)
        if m.status is Status.FAILED and m.error:
            crew.metrics.failures.labels(m.error.type).inc()
        timings = {k.value: round(v, 3) for k, v in m.timings.items()}
        if m.status is Status.FAILED and m.next_attempt_at:
            crew.metrics.retries.labels("document").inc()
            crew.sources.retry_at(item, m.next_attempt_at)
            self.log.warning("document.retry_scheduled", error=m.error.message if m.error else None,
                             next_attempt_at=m.next_attempt_at.isoformat())
            return
        event, level = {Status.SUCCEEDED: ("document.succeeded", "info"),
                        Status.PARTIAL: ("document.partial", "warning")}.get(m.status, ("document.failed", "error"))
        getattr(self.log, level)(
            event, pages=m.pages.total, failed_pages=len(m.pages.failed), timings=timings,
            **({"error_type": m.error.type, "error": m.error.message} if m.error else {}),
        )
        crew.sources.done.mark(item)
        crew.metrics.observe_upload_to_result(item.modified, m.status.value)
        if m.status in (Status.SUCCEEDED, Status.PARTIAL):
            self._tidy(claim.previous, m)
        if m.status is not Status.PARTIAL:  # its missing pages are converted later, from this input
            move_input(crew.source, crew.settings, item, m.status)

    def _offer_current_version(self) -> None:
        try:
            current = self.crew.source.head(self.item.key)
        except Exception as exc:  # noqa: BLE001 - the listing finds it later
            self.log.warning("document.new_version_unknown", error=str(exc))
            return
        if current is not None:
            self.crew.sources.retry_at(current, utcnow())

    def _tidy(self, previous: Manifest | None, manifest: Manifest) -> None:
        """After publishing: outputs the new version no longer has, and this version's page
        checkpoints (a partial document keeps them: its missing pages are converted later; a
        one-page document never had any: no listing for it)."""
        try:
            if removed := remove_stale(self.crew.sink, previous.outputs if previous else [], manifest.outputs):
                self.log.info("outputs.removed_stale", keys=removed)
            if self.checkpoints is not None and manifest.status is Status.SUCCEEDED and manifest.pages.total > 1:
                self.checkpoints.clear()
            if self.checkpoints is not None and previous is not None and previous.pages.total != 1:
                # another conversion's (an earlier version's, another engine's) left by an attempt
                # that ended: none is live once it has been quiet past a page timeout and a lease
                s = self.crew.settings
                if stale := self.checkpoints.clear_stale(2 * s.page_timeout_seconds + s.lease_seconds):
                    self.log.info("checkpoints.removed_stale", folders=stale)
        except Exception as exc:  # noqa: BLE001 - a leftover file is untidy, not wrong: the manifest is the truth
            self.log.warning("outputs.tidy_failed", error=str(exc))


@contextmanager
def timed(metrics: Metrics, stage: Stage, timings: dict[Stage, float] | None = None) -> Iterator[None]:
    """Seconds spent in ``stage``: observed in the metrics, and kept in ``timings`` if given."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        metrics.stage_seconds.labels(stage.value).observe(seconds)
        if timings is not None:
            timings[stage] = seconds
