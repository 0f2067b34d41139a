"""The completion event: one JSON message when a document's manifest becomes final (succeeded,
partial, or failed for good), with a versioned schema (`docwatch schema event`)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from watcher.manifest import Manifest, Stage, Status, utcnow

EVENT_SCHEMA_VERSION = "1"
FINAL = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED)


class EventStatus(StrEnum):
    SUCCEEDED = "succeeded"  # every page converted
    PARTIAL = "partial"  # published, but some pages failed
    FAILED = "failed"  # for good: no retry ahead


class NotFinal(ValueError):
    """The manifest is not of a finished document (queued, processing, or failed and waiting to retry)."""


class EventInput(BaseModel):
    store: str = Field(description="the input's URI (store and key)")
    key: str = Field(description="input key relative to the input root")
    version_id: str | None = Field(None, description="the store's version id of the input, where it has one")
    etag: str
    sha256: str | None = None


class EventPages(BaseModel):
    total: int
    done: int
    failed: list[int] = Field(default_factory=list, description="page numbers that failed")


class EventOutput(BaseModel):
    key: str = Field(description="output key relative to the output root")
    sha256: str
    size: int


class EventError(BaseModel):
    type: str
    message: str


class CompletionEvent(BaseModel):
    schema_version: Literal["1"] = EVENT_SCHEMA_VERSION
    event_id: str = Field(description="the same for every delivery of this event (deliveries are at least once)")
    type: Literal["document.completed"] = "document.completed"
    time: datetime = Field(default_factory=utcnow)
    input: EventInput
    status: EventStatus
    pages: EventPages
    outputs: list[EventOutput] = Field(default_factory=list)
    manifest_key: str
    timings: dict[Stage, float] = Field(default_factory=dict, description="seconds per stage, last attempt")
    error: EventError | None = Field(None, description="why it failed; on a partial document, the first failed page's error")


def event_id(manifest: Manifest) -> str:
    """One id per claim's result: the input version and the claim's number."""
    source = manifest.source
    return hashlib.sha256(f"{source.key}\0{source.etag}\0{manifest.fence}".encode()).hexdigest()[:32]


def event_from_manifest(manifest: Manifest, manifest_key: str) -> CompletionEvent:
    if manifest.status not in FINAL or manifest.next_attempt_at is not None:
        raise NotFinal(f"{manifest.source.key}: a {manifest.status.value} manifest with a retry ahead is not final"
                       if manifest.next_attempt_at else f"{manifest.source.key}: {manifest.status.value} is not final")
    source = manifest.source
    error = manifest.error or (manifest.pages.failed[0].error if manifest.pages.failed else None)
    return CompletionEvent(
        event_id=event_id(manifest),
        time=manifest.finished_at or utcnow(),
        input=EventInput(store=source.uri, key=source.key, etag=source.etag, sha256=source.sha256),
        status=EventStatus(manifest.status.value),
        pages=EventPages(total=manifest.pages.total, done=manifest.pages.done,
                         failed=[f.number for f in manifest.pages.failed]),
        outputs=[EventOutput(key=o.key, sha256=o.sha256, size=o.bytes) for o in manifest.outputs],
        manifest_key=manifest_key,
        timings=manifest.timings,
        error=EventError(type=error.type, message=error.message) if error else None,
    )
