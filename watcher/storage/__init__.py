"""Storage factory: a folder path or an ``s3://bucket/prefix`` URI, checked."""

from __future__ import annotations

from pathlib import Path

from watcher.storage.base import PARALLEL_WRITES, NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError
from watcher.storage.local import LocalStorage

__all__ = [
    "PARALLEL_WRITES",
    "LocalStorage",
    "NotFound",
    "ObjectInfo",
    "PreconditionFailed",
    "Storage",
    "StorageError",
    "is_s3_uri",
    "open_storage",
]


def is_s3_uri(uri: str) -> bool:
    return uri.startswith("s3://")


def open_storage(uri: str, s3_options: object | None = None, *, create: bool = False) -> Storage:
    """``s3_options`` is watcher.settings.S3Settings for s3:// URIs."""
    if is_s3_uri(uri):
        from watcher.storage.s3 import S3Storage

        return S3Storage.from_uri(uri, s3_options)
    if "://" in uri:
        raise StorageError(f"unsupported storage URI {uri!r}: use a folder path or s3://bucket/prefix")
    return LocalStorage(Path(uri).expanduser(), create=create)
