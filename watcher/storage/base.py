"""The storage seam: a flat key space under a root, one implementation per backend.

Keys are '/'-separated and relative to the storage root (a folder or an S3 prefix).
Conditional writes carry the claims: ``put_if_absent`` creates, ``compare_and_swap``
replaces only the version the caller read (by its etag).

Every write is durable unless the caller says ``durable=False``: a write a power cut may undo
because losing it costs no more than work done again (a claim, a lease renewal, a done marker).
A folder then skips fsync, which costs milliseconds a file; S3 answers a write only once it is
durable, so it ignores the flag.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

# writes one document sends at once (page checkpoints, outputs): pages often come back together
PARALLEL_WRITES = 8


class ObjectInfo(BaseModel):
    key: str
    size: int
    etag: str  # changes whenever the content may have changed
    modified: datetime


class StorageError(Exception):
    """Storage could not be reached or used; the message says what to fix. ``transient``: the
    store is there but failing for now (5xx, dropped connections), not misconfigured."""

    transient = False


class NotFound(StorageError):
    pass


class PreconditionFailed(StorageError):
    """A conditional write lost: the object exists, or changed since it was read."""


class Storage(ABC):
    uri: str
    # True where an object appears whole at once (S3); a folder shows files while they are written.
    atomic_uploads: bool = True
    # True where a key is a file path ('a/./b' and 'a//b' are 'a/b'; '..' is refused), so
    # output keys derived from S3 input keys must be escaped (watcher.layout.output_dir).
    keys_are_paths: bool = False
    # Set by supports_conditional_writes() when the answer is no: what the store got wrong.
    conditional_writes_problem: str | None = None

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, any depth, in no guaranteed order."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def get(self, key: str) -> tuple[bytes, str]:
        """The content and its etag; raises NotFound."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str | None = None, *, durable: bool = True) -> str:
        """Write atomically (readers see the old or the new object, never a part); return the etag."""

    @abstractmethod
    def put_if_absent(
        self, key: str, data: bytes, content_type: str | None = None, *, durable: bool = True
    ) -> str:
        """Create the object only if no object has the key; raises PreconditionFailed."""

    @abstractmethod
    def compare_and_swap(
        self, key: str, data: bytes, etag: str, content_type: str | None = None, *, durable: bool = True
    ) -> str:
        """Replace the object only if its etag is still ``etag``; raises PreconditionFailed."""

    @abstractmethod
    def delete(self, key: str, etag: str | None = None) -> None:
        """Remove the object; a missing object is not an error. With ``etag``, only that
        version: a newer one raises PreconditionFailed and stays."""

    @abstractmethod
    def copy(self, key: str, dest_key: str, *, etag: str | None = None) -> None:
        """Copy the object to ``dest_key``; with ``etag``, only that version (else
        PreconditionFailed)."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError with plain words if the root is unreachable or not usable."""

    def supports_conditional_writes(self) -> bool:
        return True

    def download(self, key: str, dest: Path, *, etag: str | None = None) -> None:
        """``key`` into the file ``dest``; ``etag``: only that version (else PreconditionFailed)."""
        data, current = self.get(key)
        if etag is not None and current != etag:
            raise PreconditionFailed(f"{key}: changed")
        dest.write_bytes(data)
