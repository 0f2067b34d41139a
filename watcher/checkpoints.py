"""Page checkpoints: each converted page, kept in the output store as soon as it arrives, so
the next attempt at the same input version (after a kill -9, a release, a timeout, an engine
crash, or pages that failed for a passing reason; on any replica) converts only the pages
that have none.

Layout: ``<out>/<rel>/pages/<sha256[:16]>/p000001.json`` (the Page and the paths of its
figures) beside the figures themselves. The folder is named by the input's sha256, so
checkpoints of another version of the input are never mixed in. The page file is written
after its figures: a page file present means a whole page. Removed once the document is
published.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from processor.document import Asset, Document, Page, PageStatus
from processor.engines import PageResult
from watcher.layout import checkpoints_of, checkpoints_root
from watcher.storage import NotFound, Storage, StorageError

if TYPE_CHECKING:
    from watcher.engine_host import EngineHost


def _stored(path: str, mime: str) -> Asset:
    """A figure whose bytes are in the checkpoint, not in memory (empty ``data``)."""
    return Asset(path=path, data=b"", mime=mime)


def _worth_keeping(result: PageResult) -> bool:
    """A page that failed for a reason that may pass is done again next time, not kept."""
    page = result.page
    return not (page.status is PageStatus.FAILED and page.error is not None and page.error.retryable)


class Checkpoints:
    def __init__(self, storage: Storage, input_key: str, sha256: str) -> None:
        self.storage = storage
        self.root = checkpoints_root(input_key, keys_are_paths=storage.keys_are_paths)
        self.prefix = checkpoints_of(input_key, sha256, keys_are_paths=storage.keys_are_paths)

    def load(self) -> dict[int, PageResult]:
        """Every whole page checkpointed for this input version, by page number; their figures
        stay in the store (see ``figure``)."""
        keys = {info.key for info in self.storage.list(self.prefix)}
        found: dict[int, PageResult] = {}
        for key in sorted(keys):
            if key.count("/") != self.prefix.count("/") or not key.endswith(".json"):
                continue  # figures live below; only page files name pages
            try:
                record = json.loads(self.storage.get(key)[0])
                page = Page.model_validate(record["page"])
                page.pipeline_markdown = record.get("pipeline_markdown")  # not part of the JSON model
            except (NotFound, ValueError, KeyError):
                continue
            if any(self.prefix + path not in keys for path in record["assets"]):
                continue  # half a checkpoint (a figure missing): convert that page again
            found[page.number] = PageResult(page, [_stored(path, mime) for path, mime in record["assets"].items()])
        return found

    def save(self, result: PageResult, *, figures_saved: bool = False) -> PageResult | None:
        """Keep one page (figures first, then the page file); None when it is not worth keeping.
        Returns the page with its figures left in the store, so memory does not grow with
        the page count. ``figures_saved``: a revised page whose figures are stored already."""
        if not _worth_keeping(result):
            return None
        for asset in [] if figures_saved else result.assets:
            self.storage.put(self.prefix + asset.path, asset.data, content_type=asset.mime)
        record = {"page": result.page.model_dump(mode="json"), "assets": {a.path: a.mime for a in result.assets},
                  "pipeline_markdown": result.page.pipeline_markdown}  # fmt: skip
        self.storage.put(f"{self.prefix}p{result.page.number:06d}.json", json.dumps(record).encode(),
                         content_type="application/json")
        return PageResult(result.page, [_stored(a.path, a.mime) for a in result.assets])

    def figure(self, asset: Asset) -> bytes:
        """A figure's bytes: in hand, or read back from its checkpoint."""
        return asset.data if asset.data else self.storage.get(self.prefix + asset.path)[0]

    def clear(self) -> None:
        """Drop the checkpoints of every version of this input (the document is published)."""
        for info in list(self.storage.list(self.root)):
            self.storage.delete(info.key)


_WRITERS = 8  # checkpoints written at once: pages often come back from the pipeline together


def convert_resuming(
    engine: EngineHost,
    checkpoints: Checkpoints,
    spooled: Path,
    name: str,
    should_abort: Callable[[], bool],
    bound,
    progress: Callable[[int, int], None] = lambda done, total: None,
    still_ours: Callable[[], bool] = lambda: True,
    *,
    resume: bool = True,
) -> tuple[Document, int]:
    """Convert what no checkpoint holds yet, checkpointing each page as it arrives; the
    Document of every page, and how many came from checkpoints. ``progress`` hears (pages
    done, pages in all) as pages arrive. Checkpoints are a saving, never a reason to fail: a
    store fault reading or writing them only costs that saving. Once the claim is no longer
    ``still_ours``, nothing more is written (the document's folder belongs to another worker).
    Checkpoints are written a few at once, in the background (a page's revision only after its
    first version); a page counts as converted (``page.converted``, ``progress``) once its
    checkpoint is written, so what the log and the manifest report done survives a kill.
    ``resume=False``: no attempt came before, so none are looked for (a listing less)."""
    try:
        resumed = checkpoints.load() if resume else {}
    except StorageError as exc:
        bound.warning("checkpoints.unreadable", error=str(exc))
        resumed = {}
    streamed: dict[int, PageResult] = {}
    saving: dict[int, Future] = {}  # page number -> its latest checkpoint write
    ok = {n for n, r in resumed.items() if r.page.status is PageStatus.OK}
    total = 0
    counting = threading.Lock()  # pages are counted from the writer threads

    def opened(pages: int) -> None:
        nonlocal total
        total = pages
        progress(len(ok), total)

    def converted(result: PageResult) -> None:
        if result.revised:
            return
        bound.info("page.converted", page=result.page.number, status=result.page.status.value)
        with counting:
            (ok.add if result.page.status is PageStatus.OK else ok.discard)(result.page.number)
            progress(len(ok), total)

    def save(result: PageResult, before: Future | None) -> None:
        if before is not None:
            before.result()  # the first version (with the figures) is stored first
        try:
            stored_figures = result.revised and not any(a.data for a in result.assets)
            kept = checkpoints.save(result, figures_saved=stored_figures) if still_ours() else None
            if kept is not None and streamed.get(result.page.number) is result:  # (not since revised)
                streamed[result.page.number] = kept  # figure bytes are not held once stored
        except StorageError as exc:
            bound.warning("checkpoint.failed", page=result.page.number, error=str(exc))
        converted(result)

    def arrived(result: PageResult) -> None:
        number, first = result.page.number, streamed.get(result.page.number)
        if result.revised and first is not None:  # restructured: its figures came with the first version
            result = PageResult(result.page, first.assets, revised=True)
        streamed[number] = result
        # a one-page document is published as soon as its page is done: a checkpoint would
        # cost store requests to save at most that one page
        if total > 1:
            saving[number] = writers.submit(save, result, saving.get(number))
        else:
            converted(result)

    with ThreadPoolExecutor(_WRITERS, thread_name_prefix="checkpoint") as writers:
        header = engine.convert(spooled, name, skip=resumed.keys(), on_page=arrived, on_opened=opened,
                                should_abort=should_abort)
    for write in saving.values():
        write.result()  # a fault other than the store's is a bug: it fails the attempt, as before
    results = {**resumed, **streamed}
    pages = [results[n].page for n in sorted(results)]
    assets = [a for n in sorted(results) for a in results[n].assets]
    return header.model_copy(update={"pages": pages, "assets": assets}), len(resumed)
