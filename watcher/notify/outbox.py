"""The outbox: a completion event is written to the output store before its final manifest and
removed once every target has it, so a crash (kill -9) between the two still sends it later,
from this replica or another."""

from __future__ import annotations

import json

from watcher.events import CompletionEvent
from watcher.layout import OUTBOX_PREFIX
from watcher.storage import NotFound, PreconditionFailed, Storage


class OutboxEntry:
    """One event in the outbox, with the claim that wrote it and the targets that have it."""

    def __init__(self, event: CompletionEvent, fence: int, delivered: list[str] | None = None) -> None:
        self.event, self.fence, self.delivered = event, fence, delivered or []

    def to_bytes(self) -> bytes:
        return json.dumps({"fence": self.fence, "delivered": self.delivered,
                           "event": self.event.model_dump(mode="json")}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> OutboxEntry:
        raw = json.loads(data)
        return cls(CompletionEvent.model_validate(raw["event"]), raw["fence"], raw["delivered"])


class Outbox:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @staticmethod
    def key(event_id: str) -> str:
        return f"{OUTBOX_PREFIX}{event_id}.json"

    def put(self, entry: OutboxEntry) -> None:
        self.storage.put(self.key(entry.event.event_id), entry.to_bytes(), content_type="application/json")

    def keys(self) -> list[str]:
        return sorted(info.key for info in self.storage.list(OUTBOX_PREFIX) if info.key.endswith(".json"))

    def load(self, key: str) -> tuple[OutboxEntry, str] | None:
        try:
            data, etag = self.storage.get(key)
        except NotFound:
            return None
        return OutboxEntry.from_bytes(data), etag

    def update(self, key: str, entry: OutboxEntry, etag: str) -> str | None:
        """Record what was delivered; None when another replica changed or removed it meanwhile."""
        try:
            return self.storage.compare_and_swap(key, entry.to_bytes(), etag, content_type="application/json")
        except (PreconditionFailed, NotFound):
            return None

    def remove(self, key: str, etag: str | None = None) -> None:
        try:
            self.storage.delete(key, etag=etag)
        except (PreconditionFailed, NotFound):
            pass
