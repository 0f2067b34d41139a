"""Discovery: which input versions need a look.

A poll is one listing of the input root. Versions already finished are known from a
small in-memory index, rebuilt at start from zero-byte marker objects under the output
root (``_docwatch/done/``), so a poll never GETs or HEADs a finished document. The
sources (watcher.sources) decide when a listing runs and what else offers versions.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

from watcher.layout import DONE_PREFIX, EPOCH_KEY, is_state_key, marker_key, marker_name, markers_of_key
from watcher.storage import ObjectInfo, Storage


class DoneIndex:
    """Finished input versions (succeeded, or failed for good)."""

    def __init__(self, output: Storage) -> None:
        self.output = output
        self._names: set[str] = set()
        self._epoch: str | None = None
        self._loaded = False
        self.generation = 0  # counts loads: a reload (after `docwatch retry`) asks for a listing

    def load(self) -> int:
        head = self.output.head(EPOCH_KEY)
        self._epoch = head.etag if head else None
        self._names = {PurePosixPath(o.key).name for o in self.output.list(DONE_PREFIX)}
        self.generation += 1
        return len(self._names)

    def refresh(self) -> int | None:
        """Load the index the first time, and again whenever `docwatch retry` re-queued
        documents (the epoch object changed). Returns the size when it (re)loaded."""
        head = self.output.head(EPOCH_KEY)
        if self._loaded and (head.etag if head else None) == self._epoch:
            return None
        count = self.load()
        self._loaded = True
        return count

    def __contains__(self, item: ObjectInfo) -> bool:
        return marker_name(item) in self._names

    def remember(self, item: ObjectInfo) -> None:
        """Known finished (e.g. another replica finished it): memory only."""
        self._names.add(marker_name(item))

    def mark(self, item: ObjectInfo) -> None:
        # written after the (durable) final manifest: a marker lost in a power cut costs one
        # manifest read on the next listing, and a marker never outlives its manifest
        self.output.put(marker_key(item), b"", durable=False)
        self._names.add(marker_name(item))

    def forget_key(self, key: str) -> None:
        """Drop the markers of every version of ``key`` (used by `docwatch retry`)."""
        prefix = markers_of_key(key)
        for o in list(self.output.list(prefix)):
            self.output.delete(o.key)
        self._names = {n for n in self._names if not n.startswith(prefix.removeprefix(DONE_PREFIX))}


@dataclass
class KeyFilter:
    """Glob patterns, as in .gitignore: a pattern with a '/' is matched against the whole key;
    one without is matched against the file name (include) or the file name and every folder
    name (exclude), so '.*' skips hidden files and hidden folders. '.' and '..' segments are
    not hidden folders: S3 keys may hold them, and they are processed like any other key."""

    include: list[str]
    exclude: list[str]
    skip_prefixes: list[str] = field(default_factory=list)

    def wanted(self, key: str) -> bool:
        if is_state_key(key) or any(key.startswith(p) for p in self.skip_prefixes if p):
            return False
        parts = key.split("/")
        names = [parts[-1]] + [p for p in parts[:-1] if p not in ("", ".", "..")]
        if any(self._match(key, names, p) for p in self.exclude):
            return False
        return any(self._match(key, names[:1], p) for p in self.include)

    @staticmethod
    def _match(key: str, names: list[str], pattern: str) -> bool:
        if "/" in pattern:
            return fnmatch.fnmatchcase(key, pattern)
        return any(fnmatch.fnmatchcase(n, pattern) for n in names)


class Discovery:
    def __init__(
        self,
        source: Storage,
        done: DoneIndex,
        keys: KeyFilter,
        *,
        settle_seconds: float,
        min_age_seconds: float,
    ) -> None:
        self.source = source
        self.done = done
        self.keys = keys
        self.settle_seconds = settle_seconds if not source.atomic_uploads else 0.0
        self.min_age_seconds = min_age_seconds
        self._first_seen: dict[str, tuple[str, float]] = {}  # key -> (etag, monotonic time first seen)
        self.unsettled = 0

    def poll(self) -> list[ObjectInfo]:
        """Input versions that are complete, wanted and not known to be finished, oldest first."""
        now_mono, now = time.monotonic(), datetime.now(UTC)
        ready, seen, unsettled = [], {}, 0
        for item in self.source.list():
            if not self.keys.wanted(item.key) or item in self.done:
                continue
            age = (now - item.modified).total_seconds()
            etag, first = self._first_seen.get(item.key, (None, now_mono - age))
            if etag is not None and etag != item.etag:
                first = now_mono  # still changing: the settle clock starts again
            seen[item.key] = (item.etag, first)
            # settled: unchanged for settle_seconds, counting the time since its last write
            if now_mono - first < self.settle_seconds or age < self.min_age_seconds:
                unsettled += 1
                continue
            ready.append(item)
        self._first_seen, self.unsettled = seen, unsettled
        return sorted(ready, key=lambda o: (o.modified, o.key))
