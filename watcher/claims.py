"""Claims: the manifest is the lock.

A worker owns a document while its manifest says ``processing`` under the worker's id
with an unexpired lease. Every transition is a conditional write of the manifest
(create with put-if-absent, then compare-and-swap on the etag last read), so two
workers, in one process or on two machines, never both win the same document version.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from processor.document import ErrorInfo
from watcher.layout import manifest_key
from watcher.manifest import Lease, Manifest, PagesSummary, SourceRecord, Status, utcnow
from watcher.storage import NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError


class Skip(StrEnum):
    """Why a document was not claimed."""

    DONE = "done"  # succeeded, or failed for good, for this version
    BUSY = "busy"  # another worker holds an unexpired lease
    WAITING = "waiting"  # a retryable failure still in its back-off
    LOST_RACE = "lost_race"  # another worker changed the manifest between our read and write
    GAVE_UP = "gave_up"  # every allowed attempt ended with its worker dead: now recorded as failed


@dataclass
class Claim:
    """A held claim. Every write goes through ``_write`` so a lost lease is noticed at once."""

    storage: Storage
    key: str
    manifest: Manifest
    etag: str
    lease_seconds: float
    previous: Manifest | None = None  # what the manifest said before this claim
    lost: bool = False
    renew_faulted: bool = False  # the last renewal met a storage fault (the lease is still ours)
    # the document's thread and its lease thread both write the manifest: every public
    # method takes it (re-entrant: ``prove`` renews)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    confirmed_at: float = field(default_factory=time.monotonic)  # when the last write that held was sent

    def renew(self) -> bool:
        """False only when the lease is lost. A storage fault is not a loss: the lease stays
        ours until it expires, so the caller just tries again at its next tick."""
        with self.lock:
            lease = self.manifest.lease
            assert lease is not None
            lease = lease.model_copy(
                update={"expires_at": _expiry(self.lease_seconds), "renewals": lease.renewals + 1}
            )
            try:
                kept = self._write(self.manifest.model_copy(update={"lease": lease}))
            except StorageError:
                self.renew_faulted = True
                return not self.lost
            self.renew_faulted = False
            return kept

    def prove(self) -> bool:
        """Renew the lease now: True only if the store confirms the claim is still ours (a
        storage fault proves nothing: StorageError)."""
        kept = self.renew()
        if kept and self.renew_faulted:
            raise StorageError("the claim could not be confirmed before overwriting an output")
        return kept

    def amend(self, **update: object) -> Manifest:
        """Change this attempt's manifest in hand (written with the next renewal or at the end)."""
        with self.lock:
            self.manifest = self.manifest.model_copy(update=update)
            return self.manifest

    def progress(self, done: int, total: int) -> None:
        """Pages done so far: written with the next lease renewal, so `docwatch status` shows it."""
        with self.lock:
            self.manifest.pages = PagesSummary(total=total, done=done)

    def finish(self, manifest: Manifest) -> bool:
        """Write the final manifest (succeeded/failed/queued) and drop the lease."""
        with self.lock:
            return self._write(manifest.model_copy(update={"lease": None}), durable=True)

    def _write(self, manifest: Manifest, *, durable: bool = False) -> bool:
        """Renewals and progress may be lost in a power cut (the claim lapses, the document is
        converted again); the final manifest may not: it names outputs and ends the attempt."""
        if self.lost:
            return False
        manifest.updated_at = utcnow()
        sent = time.monotonic()
        try:
            self.etag = self.storage.compare_and_swap(
                self.key, manifest.to_bytes(), self.etag, content_type="application/json", durable=durable
            )
        except PreconditionFailed:
            # (a retried write whose lost reply hid our own success is settled by the storage)
            self.lost = True
            return False
        self.manifest = manifest
        self.confirmed_at = sent
        return True


class Claims:
    def __init__(
        self, storage: Storage, worker_id: str, lease_seconds: float, max_attempts: int, max_lapses: int = 5
    ) -> None:
        self.storage = storage
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.max_lapses = max_lapses
        self._skipped: set[str] = set()  # input keys last skipped: their manifest exists

    def read(self, input_key: str) -> tuple[Manifest, str] | None:
        try:
            data, etag = self.storage.get(manifest_key(input_key, keys_are_paths=self.storage.keys_are_paths))
        except NotFound:
            return None
        return Manifest.from_bytes(data), etag

    def try_claim(self, item: ObjectInfo, source_uri: str) -> Claim | Skip:
        key = manifest_key(item.key, keys_are_paths=self.storage.keys_are_paths)
        now = utcnow()
        # A key this worker has not had to skip is most likely new: create its manifest first and
        # read only if that loses (reading first cost a GET answering 404, one more round trip on
        # the path of every new document). A skipped key is read first, so a document another
        # worker holds costs no failed write a poll.
        current = self.read(item.key) if item.key in self._skipped else None
        if current is None:
            manifest = self._processing(None, item, source_uri, now)
            try:
                etag = self.storage.put_if_absent(key, manifest.to_bytes(), content_type="application/json",
                                                  durable=False)  # a claim lost to a power cut lapses
            except PreconditionFailed:
                if (current := self.read(item.key)) is None:
                    return self._skip(item, Skip.LOST_RACE)
            else:
                self._skipped.discard(item.key)
                return Claim(self.storage, key, manifest, etag, self.lease_seconds)
        previous, etag = current
        if (skip := self.why_not(previous, item, now)) is not None:
            return self._skip(item, skip)
        if self._workers_died(previous, item):
            return self._give_up(key, previous, etag, now)
        manifest = self._processing(previous, item, source_uri, now)
        try:
            etag = self.storage.compare_and_swap(key, manifest.to_bytes(), etag, content_type="application/json",
                                                 durable=False)
        except PreconditionFailed:
            return self._skip(item, Skip.LOST_RACE)
        self._skipped.discard(item.key)
        return Claim(self.storage, key, manifest, etag, self.lease_seconds, previous=previous)

    def likely_new(self, input_key: str) -> bool:
        """True unless this worker last had to skip the key: its claim is most likely one write
        that wins."""
        return input_key not in self._skipped

    def _skip(self, item: ObjectInfo, why: Skip) -> Skip:
        self._skipped.add(item.key)
        return why

    def why_not(self, manifest: Manifest, item: ObjectInfo, now: datetime) -> Skip | None:
        """None when ``manifest`` lets a worker claim ``item`` now."""
        same = manifest.same_version(item.size, item.etag)
        if manifest.status is Status.PROCESSING and manifest.lease and manifest.lease.expires_at > now:
            return Skip.BUSY
        if not same:
            return None  # a new version: always worth a look
        if manifest.status in (Status.SUCCEEDED, Status.PARTIAL):
            return Skip.DONE
        if manifest.status is Status.FAILED:
            if not (manifest.error and manifest.error.retryable) or manifest.attempts >= self.max_attempts:
                return Skip.DONE
            if manifest.next_attempt_at and manifest.next_attempt_at > now:
                return Skip.WAITING
        return None

    def _workers_died(self, manifest: Manifest, item: ObjectInfo) -> bool:
        """Still ``processing`` with an expired lease: the attempt lapsed, its worker killed
        (kill -9, OOM, node lost) or cut off from the store. Lapses are counted apart from
        attempts and allowed more often (``max_lapses``: a partition or two node losses must not
        fail a healthy document), but a document that keeps killing its workers must not
        occupy the fleet for good."""
        lapsed = manifest.status is Status.PROCESSING and manifest.same_version(item.size, item.etag)
        return lapsed and manifest.lapses + 1 >= self.max_lapses

    def _give_up(self, key: str, manifest: Manifest, etag: str, now: datetime) -> Skip:
        error = ErrorInfo(
            type="WorkerLost",
            retryable=False,
            message=f"{manifest.lapses + 1} attempts at this document ended without a result, their workers "
            f"killed (e.g. out of memory) or cut off from the store (last: {manifest.worker_id}). "
            "`docwatch retry` queues it again",
        )
        final = manifest.model_copy(update={
            "status": Status.FAILED, "lease": None, "error": error, "finished_at": now, "next_attempt_at": None,
            "updated_at": now, "lapses": manifest.lapses + 1, "fence": manifest.fence + 1,
        })
        try:
            self.storage.compare_and_swap(key, final.to_bytes(), etag, content_type="application/json")
        except PreconditionFailed:
            return Skip.LOST_RACE
        return Skip.GAVE_UP

    def _processing(self, previous: Manifest | None, item: ObjectInfo, uri: str, now: datetime) -> Manifest:
        same = previous is not None and previous.same_version(item.size, item.etag)
        source = SourceRecord(key=item.key, uri=uri, size=item.size, etag=item.etag, mtime=item.modified)
        if previous is not None and same:
            source.sha256 = previous.source.sha256
        lapsed = same and previous is not None and previous.status is Status.PROCESSING
        return Manifest(
            source=source,
            status=Status.PROCESSING,
            attempts=(previous.attempts if same and previous else 0) + 1,
            fence=(previous.fence if previous else 0) + 1,  # every claim a new number, whatever the version
            lapses=(previous.lapses if same and previous else 0) + int(lapsed),
            solo=lapsed or bool(same and previous and previous.status is Status.QUEUED and previous.solo),
            worker_id=self.worker_id,
            lease=Lease(worker_id=self.worker_id, expires_at=_expiry(self.lease_seconds)),
            created_at=previous.created_at if previous else now,
            started_at=now,
            # what is in the store now: publishing fences against these versions
            outputs=previous.outputs if previous else [],
        )


def _expiry(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
