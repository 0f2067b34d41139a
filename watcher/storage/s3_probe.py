"""Does an S3-compatible store honour the conditional writes claims rely on?

Some stores (older MinIO, Ceph, proxies) drop ``If-None-Match`` or ``If-Match`` and write
anyway; on them two replicas would both win a claim, or a takeover and a renewal would
overwrite each other. Each header is asked for a yes and a no, on a scratch key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from watcher.layout import PROBE_PREFIX
from watcher.storage.base import PreconditionFailed, Storage, StorageError
from watcher.storage.s3_answers import transient

_WRONG_ETAG = "0" * 32  # no object has it: a replace naming it must get 412


class _Refused(Exception):
    """The store answered a conditional write with a refusal (not a 412)."""


def probe_conditional_writes(storage: Storage) -> str | None:
    """A create with If-None-Match must work once and then get 412; a replace with If-Match
    must get 412 for a wrong ETag and work for the right one. None when all four hold, else
    what the store got wrong. StorageError when the store could not be asked."""
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        etag = _step(lambda: storage.put_if_absent(key, b"probe"))
        if etag is None:
            return "If-None-Match is refused: creating a new key failed"
        if _step(lambda: storage.put_if_absent(key, b"probe again")) is not None:
            return "If-None-Match is ignored: a second create of the same key overwrote the first"
        if _step(lambda: storage.compare_and_swap(key, b"stale", _WRONG_ETAG)) is not None:
            return "If-Match is ignored: a replace naming a wrong ETag overwrote the object"
        if _step(lambda: storage.compare_and_swap(key, b"current", etag)) is None:
            return "If-Match is refused: a replace naming the current ETag failed"
        return None
    except _Refused as exc:
        return f"conditional writes are refused: {exc}"
    finally:
        try:
            storage.delete(key)
        except StorageError:
            pass  # a leftover probe is harmless: discovery skips _docwatch/


def _step(write: Callable[[], str]) -> str | None:
    """The new ETag, or None for a 412; _Refused when the store rejects the request."""
    try:
        return write()
    except PreconditionFailed:
        return None
    except StorageError as exc:
        if exc.__cause__ is None or transient(exc.__cause__):
            raise  # no answer yet: neither yes nor no
        raise _Refused(str(exc)) from exc  # e.g. 501 NotImplemented for the header
