"""The listing source: one listing of the input root per look (today's poll, and the backstop
that catches what an event source missed)."""

from __future__ import annotations

import time

import structlog

from watcher.discovery import Discovery, DoneIndex
from watcher.sources.base import InputSource
from watcher.storage import ObjectInfo

log = structlog.get_logger("docwatch")


class Listing(InputSource):
    """``every=None``: list whenever the daemon looks (the daemon's poll interval paces it).
    ``every=N`` (events on): list at start, then every N seconds, while files are settling,
    and after `docwatch retry` (the done index reloaded), since no event announces a re-queue."""

    name = "listing"

    def __init__(self, discovery: Discovery, done: DoneIndex, *, every: float | None = None) -> None:
        self.discovery, self.done, self.every = discovery, done, every
        self._listed_at: float | None = None
        self._generation = -1

    def poll(self) -> list[ObjectInfo]:
        if self.every is not None and not self._due():
            return []
        items = self.discovery.poll()
        if self.every is not None and (self._listed_at is None or time.monotonic() - self._listed_at >= self.every):
            log.info("listing.reconciled", ready=len(items), unsettled=self.discovery.unsettled)
        self._listed_at, self._generation = time.monotonic(), self.done.generation
        return items

    def _due(self) -> bool:
        return (
            self._listed_at is None
            or self.discovery.unsettled > 0
            or self.done.generation != self._generation
            or time.monotonic() - self._listed_at >= (self.every or 0)
        )

    @property
    def unsettled(self) -> int:
        return self.discovery.unsettled
