"""A local folder as storage: atomic writes by rename, conditional writes under flock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from watcher.layout import LOCAL_STATE_DIR as INTERNAL_DIR
from watcher.storage.base import NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError


class LocalStorage(Storage):
    atomic_uploads = False
    keys_are_paths = True

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    # -- reads -----------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # S3 semantics: a plain string prefix of the key, so walk only the folder it names
        folder = prefix.rpartition("/")[0]
        start = self._path(folder) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not (dirpath == str(self.root) and d == INTERNAL_DIR)]
            for name in filenames:
                path = Path(dirpath, name)
                if path.is_symlink():
                    continue  # a link could point outside the root
                try:
                    info = self._info(path)
                except FileNotFoundError:
                    continue  # removed while we walked
                if info.key.startswith(prefix):
                    yield info

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return self._info(self._path(key))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def get(self, key: str) -> tuple[bytes, str]:
        path = self._path(key)
        try:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                return f.read(), _etag(st)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(key) from exc

    # -- writes ----------------------------------------------------------------
    def put(self, key: str, data: bytes, content_type: str | None = None, *, durable: bool = True) -> str:
        path = self._path(key)
        with self._lock(key):
            return self._replace(path, data, durable=durable)

    def put_if_absent(
        self, key: str, data: bytes, content_type: str | None = None, *, durable: bool = True
    ) -> str:
        path = self._path(key)
        with self._lock(key):
            if path.exists():
                raise PreconditionFailed(f"{key} exists")
            return self._replace(path, data, durable=durable)

    def compare_and_swap(
        self, key: str, data: bytes, etag: str, content_type: str | None = None, *, durable: bool = True
    ) -> str:
        path = self._path(key)
        with self._lock(key):
            current = self.head(key)
            if current is None or current.etag != etag:
                raise PreconditionFailed(f"{key} changed since it was read")
            return self._replace(path, data, durable=durable)

    def delete(self, key: str, etag: str | None = None) -> None:
        # docwatch's own writes take the lock; another program's rename can still land
        # between the comparison and the unlink (a window of microseconds, not a conversion).
        with self._lock(key):
            if etag is not None and (current := self.head(key)) is not None and current.etag != etag:
                raise PreconditionFailed(f"{key} changed since it was read")
            path = self._path(key)
            path.unlink(missing_ok=True)
        # folders left empty go too (an object store has no folders to leave behind)
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or just refilled): it stays

    def download(self, key: str, dest: Path, *, etag: str | None = None) -> None:
        """A private copy, streamed (the original may be replaced while it is converted);
        ``etag``: only of that version (PreconditionFailed when the key holds another now)."""
        try:
            with self._path(key).open("rb") as src:
                if etag is not None and _etag(os.fstat(src.fileno())) != etag:
                    raise PreconditionFailed(f"{key}: changed")
                with open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(key) from exc

    def copy(self, key: str, dest_key: str, *, etag: str | None = None) -> None:
        try:
            src = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(key) from exc
        with src:  # the open file is one version, whatever is renamed over its name meanwhile
            if etag is not None and _etag(os.fstat(src.fileno())) != etag:
                raise PreconditionFailed(f"{key} changed: not the version asked for")
            self._replace(self._path(dest_key), lambda f: shutil.copyfileobj(src, f))

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageError(f"{self.root} is not a folder (create it, or point docwatch at another one)")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StorageError(f"{self.root} is not readable by this user")

    def check_writable(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable by this user")

    # -- internals -------------------------------------------------------------
    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or ".." in parts or INTERNAL_DIR == (parts[0] if parts else ""):
            raise StorageError(f"refusing key outside the storage root: {key!r}")
        return self.root.joinpath(*parts)

    def _info(self, path: Path) -> ObjectInfo:
        st = path.stat()
        if not path.is_file():
            raise FileNotFoundError(path)
        return ObjectInfo(
            key=path.relative_to(self.root).as_posix(),
            size=st.st_size,
            etag=_etag(st),
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
        )

    def _replace(
        self, path: Path, content: bytes | Callable[[BinaryIO], object], *, durable: bool = True
    ) -> str:
        """Write ``content`` (bytes, or a function writing to the file) to ``path`` atomically;
        ``durable``: on the disk before it replaces the old file (else in the page cache)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Temp name in the same folder (same filesystem, so rename is atomic), dot-prefixed
        # so watchers and listings of other tools skip it.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(content, bytes):
                    f.write(content)
                else:
                    content(f)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return _etag(path.stat())

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        locks = self.root / INTERNAL_DIR / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        # 256 striped lock files, not one per key: the folder stays small at any document count
        name = hashlib.sha256(key.encode()).hexdigest()[:2]
        with open(locks / name, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _etag(st: os.stat_result) -> str:
    # Every write is a rename of a fresh temp file, so the inode changes with each version.
    return f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"
