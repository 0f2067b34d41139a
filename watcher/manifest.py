"""The status manifest: one per input version, the last object written for a document.

It is also the claim: a worker owns a document while the manifest says ``processing``
under its ``worker_id`` with an unexpired lease (see watcher.claims).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from processor.document import EngineInfo, ErrorInfo

MANIFEST_VERSION = "1"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # published, but some pages failed: `docwatch retry --partial` converts them later
    FAILED = "failed"


class Stage(StrEnum):
    DISCOVER = "discover"
    CLAIM = "claim"
    FETCH = "fetch"
    CONVERT = "convert"
    PUBLISH = "publish"
    RECORD = "record"


class SourceRecord(BaseModel):
    key: str = Field(description="input key relative to the input root")
    uri: str
    size: int
    etag: str = Field(description="storage version tag (S3 ETag; inode/size/mtime for folders)")
    sha256: str | None = None
    mtime: datetime


class Lease(BaseModel):
    worker_id: str
    expires_at: datetime
    renewals: int = 0


class PageFailure(BaseModel):
    number: int
    error: ErrorInfo


class PagesSummary(BaseModel):
    total: int = 0
    done: int = 0
    failed: list[PageFailure] = Field(default_factory=list)
    fallbacks: dict[str, int] = Field(
        default_factory=dict,
        description="stages undone because they lost or scrambled text, by stage, over the document's pages "
        "(each page's own list is in the document JSON: pages[].fallbacks)",
    )


class OutputRecord(BaseModel):
    key: str = Field(description="output key relative to the output root")
    bytes: int
    sha256: str
    etag: str | None = Field(None, description="the stored version written (fences later writers)")


class Manifest(BaseModel):
    manifest_version: str = MANIFEST_VERSION
    source: SourceRecord
    status: Status = Status.QUEUED
    attempts: int = 0
    fence: int = Field(0, description="the number of the claim that wrote this manifest; every claim on the input "
                       "key takes the next one and stamps it into each output it writes, so an earlier claim's late "
                       "writes are refused (see watcher.publish)")
    lapses: int = Field(0, description="attempts that ended with the lease running out: worker killed or cut off")
    solo: bool = Field(False, description="this attempt runs with the engine to itself: the last one ended in an "
                       "engine crash or a lapse while other documents shared the engine")
    worker_id: str | None = None
    lease: Lease | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = Field(None, description="a failed retryable document waits until then")
    timings: dict[Stage, float] = Field(default_factory=dict, description="seconds per stage, last attempt")
    pages: PagesSummary = Field(default_factory=PagesSummary)
    engine: EngineInfo | None = None
    outputs: list[OutputRecord] = Field(default_factory=list)
    error: ErrorInfo | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        return cls.model_validate_json(data)

    def same_version(self, size: int, etag: str, sha256: str | None = None) -> bool:
        """Is this manifest about that version of the input?"""
        if sha256 and self.source.sha256:
            return sha256 == self.source.sha256
        return self.source.etag == etag and self.source.size == size
