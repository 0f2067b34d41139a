"""What event sources share: turn S3 event records into versions worth offering.

An event is a hint, not the truth: the object is looked at (HEAD) before it is offered, so a
duplicate or a late, out-of-order delivery offers the version that is there now, and an
object deleted before conversion is simply not offered. An older S3 ``sequencer`` for a key
than one already seen is dropped without a request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from watcher.discovery import DoneIndex, KeyFilter
from watcher.metrics import Metrics
from watcher.sources.base import InputSource, VersionKey, version_of
from watcher.sources.s3_events import EventKind, ObjectEvent, newer
from watcher.storage import ObjectInfo
from watcher.storage.s3 import S3Storage

log = structlog.get_logger("docwatch")
_SEQUENCERS_KEPT = 100_000  # keys whose newest sequencer is remembered (oldest forgotten first)


@dataclass
class Pending:
    item: ObjectInfo
    announced_at: datetime | None
    tokens: set[str] = field(default_factory=set)  # messages that wait for this version


class Announced(InputSource):
    def __init__(self, name: str, storage: S3Storage, keys: KeyFilter, done: DoneIndex, metrics: Metrics,
                 *, min_age_seconds: float = 0.0) -> None:
        self.name, self.storage, self.keys, self.done = name, storage, keys, done
        self.metrics, self.min_age_seconds = metrics, min_age_seconds
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[VersionKey, Pending] = {}
        self._newest: OrderedDict[str, str] = OrderedDict()
        self._young = 0

    def start(self, wake: threading.Event) -> None:
        self.wake = wake

    # -- events in ---------------------------------------------------------------
    def accept(self, events: list[ObjectEvent], token: str | None = None) -> list[VersionKey]:
        """Resolve ``events``; the versions returned are pending and hold ``token`` until settled.
        Raises StorageError when the store could not be asked (the caller keeps the message)."""
        versions = []
        for event in events:
            self._count("received")
            key = self._input_key(event)
            if key is None or event.kind is not EventKind.CREATED:
                self._count("ignored")
                if key is not None and event.kind is EventKind.REMOVED:
                    log.info("event.object_removed", source=self.name, key=key)
                    if self.storage.head(key) is None:  # still gone (not uploaded again since)
                        self._drop_key(key)
                continue
            item = self.storage.head(key)
            if item is None:  # deleted (or replaced and deleted) before we got to it: nothing to do
                self._count("ignored")
                log.info("event.object_gone", source=self.name, key=key)
                continue
            if item in self.done:
                continue
            with self._lock:
                pending = self._pending.setdefault(version_of(item), Pending(item, event.time))
                if token is not None:
                    pending.tokens.add(token)
                if event.time and (pending.announced_at is None or event.time < pending.announced_at):
                    pending.announced_at = event.time
            versions.append(version_of(item))
        if versions:
            self.wake.set()
        return versions

    def _input_key(self, event: ObjectEvent) -> str | None:
        """The input key an event is about, or None when it is not for us (test event, another
        bucket, outside the input prefix, filtered out, or older than what was seen)."""
        if event.kind is EventKind.TEST or event.bucket != self.storage.bucket:
            return None
        if not event.key.startswith(self.storage.prefix):
            return None
        key = event.key[len(self.storage.prefix):]
        if not key or key.endswith("/") or not self.keys.wanted(key):
            return None
        if event.sequencer:
            with self._lock:
                seen = self._newest.get(key)
                if seen is not None and not newer(event.sequencer, seen):
                    if seen == event.sequencer:
                        return key  # the same event again is fine
                    self._count("stale")  # older than one seen: not even looked up
                    log.info("event.stale", source=self.name, key=key, sequencer=event.sequencer, newest=seen)
                    return None
                self._newest[key] = event.sequencer
                self._newest.move_to_end(key)
                while len(self._newest) > _SEQUENCERS_KEPT:
                    self._newest.popitem(last=False)
        return key

    def _count(self, result: str) -> None:
        self.metrics.events.labels(self.name, result).inc()

    # -- versions out ------------------------------------------------------------
    def poll(self) -> list[ObjectInfo]:
        now, ready, young, finished = datetime.now(UTC), [], 0, []
        with self._lock:
            for version, p in list(self._pending.items()):
                if p.item in self.done:  # finished meanwhile (e.g. found by the listing)
                    finished.append((version, self._pending.pop(version).tokens))
                elif (now - p.item.modified).total_seconds() < self.min_age_seconds:
                    young += 1
                else:
                    ready.append(p.item)
            self._young = young
        for version, tokens in finished:
            self._release(version, tokens)
        return sorted(ready, key=lambda o: (o.modified, o.key))

    def settled(self, item: ObjectInfo, *, claimed: bool) -> datetime | None:
        with self._lock:
            pending = self._pending.pop(version_of(item), None)
        if pending is None:
            return None
        self._release(version_of(item), pending.tokens)
        return pending.announced_at

    def _release(self, version: VersionKey, tokens: set[str]) -> None:
        """``version`` is settled; ``tokens`` name the messages that announced it (a queue
        deletes a message once every version it announced is settled)."""

    def _drop_key(self, key: str) -> None:
        """A pending version was deleted before the daemon got to it: nothing to convert."""
        with self._lock:
            gone = [(v, self._pending.pop(v).tokens) for v in list(self._pending) if v[0] == key]
        for version, tokens in gone:
            self._release(version, tokens)

    def forget(self, tokens: set[str]) -> None:
        """The messages ``tokens`` were handed back: drop what only they announced."""
        with self._lock:
            for version, p in list(self._pending.items()):
                if p.tokens and not (p.tokens - tokens):
                    del self._pending[version]
                else:
                    p.tokens -= tokens

    @property
    def unsettled(self) -> int:
        return self._young

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)
