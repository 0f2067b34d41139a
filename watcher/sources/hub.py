"""The sources together: ``build_sources`` picks them from the settings; the daemon only asks the
``Sources`` for versions and says when one is settled."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from watcher.discovery import Discovery, DoneIndex, KeyFilter
from watcher.metrics import Metrics
from watcher.settings import InputAction, Settings
from watcher.sources.base import InputSource, VersionKey, version_of
from watcher.sources.listing import Listing
from watcher.storage import LocalStorage, ObjectInfo, Storage, StorageError
from watcher.storage.s3 import S3Storage

class Sources:
    """Every source of input versions, as one: polled together, each version offered once and
    settled with every source that offered it; retries come back when due."""

    def __init__(self, sources: list[InputSource], done: DoneIndex, metrics: Metrics) -> None:
        self.sources, self.done, self.metrics = sources, done, metrics
        self.wake = threading.Event()  # any source sets it; so does the daemon's stop()
        self._offered: dict[VersionKey, list[InputSource]] = {}  # versions offered and not settled yet, by whom
        self._lock = threading.Lock()
        self._later: dict[VersionKey, tuple[float, ObjectInfo]] = {}  # retries due at a monotonic time

    def start(self) -> None:
        for source in self.sources:
            source.start(self.wake)

    def stop(self) -> None:
        for source in self.sources:
            source.stop()

    def poll(self) -> list[ObjectInfo]:
        """Every source's versions, each once, oldest first (raises when a listing fails)."""
        items: dict[VersionKey, ObjectInfo] = {}
        offered: dict[VersionKey, list[InputSource]] = {}
        for source in self.sources:
            for item in source.poll():
                items.setdefault(version_of(item), item)
                offered.setdefault(version_of(item), []).append(source)
        with self._lock:  # document threads settle versions offered by an earlier poll meanwhile
            for version, by in offered.items():
                known = self._offered.setdefault(version, [])
                known.extend(s for s in by if s not in known)
        now = time.monotonic()
        for version, (due, item) in list(self._later.items()):
            if due <= now:
                del self._later[version]
                items.setdefault(version, item)
        return sorted(items.values(), key=lambda o: (o.modified, o.key))

    def settled(self, item: ObjectInfo, *, claimed: bool) -> None:
        """The daemon claimed ``item`` (or found it done, busy or waiting): sources let go of it."""
        with self._lock:
            offered = self._offered.pop(version_of(item), [])
        announced = [(at, s.name) for s in offered if (at := s.settled(item, claimed=claimed)) is not None]
        if claimed and offered:
            at, name = min(announced) if announced else (item.modified, offered[0].name)
            self.metrics.intake_latency.labels(name).observe(max((datetime.now(UTC) - at).total_seconds(), 0))

    def slot_freed(self) -> None:
        for source in self.sources:
            source.slot_freed()

    def retry_at(self, item: ObjectInfo, when: datetime) -> None:
        """Offer ``item`` again when its retry is due (no event will announce it again)."""
        delay = max((when - datetime.now(UTC)).total_seconds(), 0)
        self._later[version_of(item)] = (time.monotonic() + delay, item)

    @property
    def unsettled(self) -> int:
        return sum(s.unsettled for s in self.sources)


def key_filter(settings: Settings) -> KeyFilter:
    moved = [settings.done_prefix, settings.failed_prefix]
    skip = [p for p, a in zip(moved, (settings.on_success, settings.on_failure)) if a is InputAction.MOVE]
    return KeyFilter(include=settings.include, exclude=settings.exclude, skip_prefixes=skip)


def build_sources(
    settings: Settings, source: Storage, sink: Storage, metrics: Metrics, *, once: bool = False
) -> Sources:
    """The listing always (with events on, only as a reconciliation backstop); watchdog on a
    local folder; SQS and the webhook when configured. ``once``: the listing alone."""
    done, keys = DoneIndex(sink), key_filter(settings)
    discovery = Discovery(
        source, done, keys, settle_seconds=settings.settle_seconds, min_age_seconds=settings.min_age_seconds
    )
    events = settings.events.enabled and not once
    if events and not isinstance(source, S3Storage):
        raise StorageError("S3 event notifications (events.sqs_queue_url, events.webhook_token) need an s3:// input")
    every = settings.reconcile_interval if events else None  # with events: a reconciliation backstop
    sources: list[InputSource] = [Listing(discovery, done, every=every)]
    if isinstance(source, LocalStorage) and not once:
        from watcher.sources.folder import FolderEvents

        sources.append(FolderEvents(Path(source.root)))
    if events and isinstance(source, S3Storage):
        if settings.events.sqs_queue_url:
            from watcher.sources.sqs import SqsSource

            sqs = SqsSource(settings.events, settings.s3, source, keys, done, metrics,
                            min_age_seconds=settings.min_age_seconds)
            sqs.check()
            sources.append(sqs)
        if settings.events.webhook_token:
            from watcher.sources.webhook import Webhook

            sources.append(Webhook(settings.events.webhook_token, source, keys, done, metrics,
                                   min_age_seconds=settings.min_age_seconds))
    return Sources(sources, done, metrics)
