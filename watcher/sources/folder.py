"""Filesystem events on a local input folder (watchdog): they wake the daemon, and the
listing decides (it knows the settle time and the done index), so a dropped file is seen
at once even with a long poll interval."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from watcher.sources.base import InputSource
from watcher.storage import ObjectInfo

# 'modified' fires for every write of a large copy; waking on each would list the folder in
# a tight loop, and the listing re-looks every half second anyway while a file settles.
_MODIFIED_WAKE_GAP = 0.5


class FolderEvents(InputSource):
    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._observer = None
        self._last_wake = 0.0

    def start(self, wake: threading.Event) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        source = self

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                kind = event.event_type
                if kind in ("opened", "closed_no_write", "deleted"):
                    return
                now = time.monotonic()
                if kind == "modified" and now - source._last_wake < _MODIFIED_WAKE_GAP:
                    return
                source._last_wake = now
                wake.set()

        self._observer = Observer()
        self._observer.schedule(_Wake(), str(self.root), recursive=True)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

    def poll(self) -> list[ObjectInfo]:
        return []  # events only wake the daemon; the listing offers the files
