"""A conversion that resumes from page checkpoints and checkpoints every page as it arrives."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from processor.document import Document, PageStatus
from processor.engines import PageResult
from watcher.checkpoints import Checkpoints
from watcher.claims import Claim
from watcher.engine_host import EngineHost
from watcher.storage import PARALLEL_WRITES, StorageError

class ResumingConversion:
    """Converts what no checkpoint holds yet, checkpointing each page as it arrives.

    Checkpoints are a saving, never a reason to fail: a store fault reading or writing them only
    costs that saving. Once the claim is lost nothing more is written (the document's folder
    belongs to another worker). Checkpoints are written a few at once, in the background (a
    page's revision only after its first version); a page counts as converted (``page.converted``,
    the manifest's progress) once its checkpoint is written, so what the log and the manifest
    report done survives a kill. ``resume=False``: no attempt came before, so none are looked
    for (a listing less)."""

    def __init__(self, checkpoints: Checkpoints, claim: Claim, log, *, resume: bool = True) -> None:
        self.checkpoints, self.claim, self.log, self.resume = checkpoints, claim, log, resume
        self.streamed: dict[int, PageResult] = {}
        self.saving: dict[int, Future] = {}  # page number -> its latest checkpoint write
        self.ok: set[int] = set()  # pages converted whole, so far
        self.total = 0
        self._counting = threading.Lock()  # pages are counted from the writer threads
        self._writers: ThreadPoolExecutor | None = None

    def run(self, engine: EngineHost, spooled: Path, name: str, should_abort: Callable[[], bool]) -> tuple[Document, int]:
        """The Document of every page, and how many came from checkpoints."""
        resumed = self._load()
        self.ok = {n for n, r in resumed.items() if r.page.status is PageStatus.OK}
        with ThreadPoolExecutor(PARALLEL_WRITES, thread_name_prefix="checkpoint") as self._writers:
            header = engine.convert(spooled, name, skip=resumed.keys(), on_page=self.arrived, on_opened=self.opened,
                                    should_abort=should_abort)
        for write in self.saving.values():
            write.result()  # a fault other than the store's is a bug: it fails the attempt
        results = {**resumed, **self.streamed}
        pages = [results[n].page for n in sorted(results)]
        assets = [a for n in sorted(results) for a in results[n].assets]
        return header.model_copy(update={"pages": pages, "assets": assets}), len(resumed)

    def _load(self) -> dict[int, PageResult]:
        if not self.resume:
            return {}
        try:
            return self.checkpoints.load()
        except StorageError as exc:
            self.log.warning("checkpoints.unreadable", error=str(exc))
            return {}

    # -- what the engine tells, as it goes --------------------------------------------
    def opened(self, pages: int) -> None:
        self.total = pages
        self.claim.progress(len(self.ok), self.total)

    def arrived(self, result: PageResult) -> None:
        number = result.page.number
        result = result.keeping_figures_of(self.streamed.get(number))
        self.streamed[number] = result
        # a one-page document is published as soon as its page is done: a checkpoint would
        # cost store requests to save at most that one page
        if self.total > 1:
            assert self._writers is not None
            self.saving[number] = self._writers.submit(self._save, result, self.saving.get(number))
        else:
            self._converted(result)

    def _save(self, result: PageResult, before: Future | None) -> None:
        if before is not None:
            before.result()  # the first version (with the figures) is stored first
        try:
            stored_figures = result.revised and not any(a.data for a in result.assets)
            kept = None if self.claim.lost else self.checkpoints.save(result, figures_saved=stored_figures)
            if kept is not None and self.streamed.get(result.page.number) is result:  # (not since revised)
                self.streamed[result.page.number] = kept  # figure bytes are not held once stored
        except StorageError as exc:
            self.log.warning("checkpoint.failed", page=result.page.number, error=str(exc))
        self._converted(result)

    def _converted(self, result: PageResult) -> None:
        if result.revised:
            return
        self.log.info("page.converted", page=result.page.number, status=result.page.status.value)
        with self._counting:
            (self.ok.add if result.page.status is PageStatus.OK else self.ok.discard)(result.page.number)
            self.claim.progress(len(self.ok), self.total)
