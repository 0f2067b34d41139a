"""The completion event: what happened to one input version, built from its final manifest.

Only the model and its builder live here; delivering events (webhook, queue) is elsewhere.
``event_id`` is deterministic (input key + etag + attempts), so a duplicate delivery of the same
outcome carries the same id and consumers can drop it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from watcher.manifest import Manifest, Stage, Status

EVENT_SCHEMA_VERSION = "1"
EVENT_TYPE = "document.completed"


class EventStatus(StrEnum):
    SUCCEEDED = "succeeded"  # every page converted
    PARTIAL = "partial"  # the document converted but some pages failed
    FAILED = "failed"


class EventInput(BaseModel):
    store: str = Field(description="the input's URI (folder path or s3://bucket/key)")
    key: str = Field(description="input key relative to the input root")
    version_id: str | None = Field(None, description="the store's version id when it keeps versions")
    etag: str
    sha256: str | None = None


class EventPages(BaseModel):
    total: int
    done: int
    failed: int


class EventOutput(BaseModel):
    key: str = Field(description="output key relative to the output root")
    sha256: str
    size: int


class EventError(BaseModel):
    type: str
    message: str


class CompletionEvent(BaseModel):
    schema_version: str = EVENT_SCHEMA_VERSION
    event_id: str = Field(description="sha256 of input key, etag and attempts: equal for duplicates")
    type: Literal["document.completed"] = EVENT_TYPE
    time: datetime = Field(description="when the document finished (the manifest's finished_at)")
    input: EventInput
    status: EventStatus
    pages: EventPages
    outputs: list[EventOutput] = Field(default_factory=list)
    manifest_key: str = Field(description="the manifest's key relative to the output root")
    timings: dict[Stage, float] = Field(default_factory=dict, description="seconds per stage, last attempt")
    error: EventError | None = None


class NotFinal(ValueError):
    """The manifest is not of a finished document (queued, processing, or failed and waiting to retry)."""


def event_id(key: str, etag: str, attempts: int) -> str:
    return hashlib.sha256(json.dumps([key, etag, attempts]).encode()).hexdigest()


def event_from_manifest(manifest: Manifest, manifest_key: str) -> CompletionEvent:
    """The completion event of a final manifest (succeeded, or failed with no retry ahead)."""
    final = manifest.status is Status.SUCCEEDED or (
        manifest.status is Status.FAILED and manifest.next_attempt_at is None
    )
    if not final:
        raise NotFinal(f"{manifest.source.key}: status {manifest.status.value} is not final")
    src = manifest.source
    failed_pages = len(manifest.pages.failed)
    if manifest.status is Status.FAILED:
        status = EventStatus.FAILED
    else:
        status = EventStatus.PARTIAL if failed_pages else EventStatus.SUCCEEDED
    error = manifest.error
    if error is None and failed_pages:  # partial: say what the first failed page met
        error = manifest.pages.failed[0].error
    return CompletionEvent(
        event_id=event_id(src.key, src.etag, manifest.attempts),
        time=manifest.finished_at or manifest.updated_at,
        input=EventInput(store=src.uri, key=src.key, etag=src.etag, sha256=src.sha256),
        status=status,
        pages=EventPages(total=manifest.pages.total, done=manifest.pages.done, failed=failed_pages),
        outputs=[EventOutput(key=o.key, sha256=o.sha256, size=o.bytes) for o in manifest.outputs],
        manifest_key=manifest_key,
        timings=dict(manifest.timings),
        error=EventError(type=error.type, message=error.message) if error else None,
    )
