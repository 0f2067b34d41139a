"""The source seam: where candidate input versions come from.

A source offers input versions (``ObjectInfo``) that may need converting. The daemon claims
each one; a claim is the only thing that decides whether it is converted, so a source may
offer a version twice, or offer one another source offered too. Once the daemon has settled
a version (claimed it, found it done, or recorded a result) it tells the sources that offered
it, so an event source can let go of the message that announced it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from datetime import datetime

from watcher.storage import ObjectInfo

VersionKey = tuple[str, str, int]  # key, etag, size


def version_of(item: ObjectInfo) -> VersionKey:
    return item.key, item.etag, item.size


class InputSource(ABC):
    """One place input versions come from (the listing, folder events, a queue, a webhook)."""

    name: str

    def start(self, wake: threading.Event) -> None:
        """Begin watching; set ``wake`` when something new may be offered."""

    def stop(self) -> None:
        """Stop watching (unsettled announcements are left for another replica)."""

    @abstractmethod
    def poll(self) -> list[ObjectInfo]:
        """Versions ready to be claimed now. May raise StorageError (the daemon logs and counts it)."""

    def settled(self, item: ObjectInfo, *, claimed: bool) -> datetime | None:
        """The daemon is done with ``item``'s version for now (``claimed``: by this daemon, which
        now works on it; else it was done, busy elsewhere or waiting). Returns when the source
        learnt of it (the upload's event time), if it knows."""
        return None

    def slot_freed(self) -> None:
        """A document ended: the daemon could take one more. A source that takes announcements
        only as the daemon has room for them (a queue) asks for more now."""

    @property
    def unsettled(self) -> int:
        """Versions seen but not offered yet (still being written, or too young)."""
        return 0
