"""Page checkpoints: each converted page, kept in the output store as soon as it arrives, so
the next attempt at the same input version (after a kill -9, a release, a timeout, an engine
crash, or pages that failed for a passing reason; on any replica) converts only the pages
that have none.

Layout: ``<out>/<rel>/pages/<conversion>/p000001.json`` (the Page and the paths of its figures)
beside the figures themselves. The folder is named by the conversion: the input's sha256, the
engine, its version and the options that shape its output, so pages of another version of the
input, or of another engine or set-up, are never mixed in. The page file is written after its
figures: a page file present means a whole page. A published document's folder is removed;
another conversion's folder only once nothing has been written to it for long enough that no
live attempt can be writing it (``clear_stale``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from processor.document import Asset, EngineInfo, Page
from processor.engines import PageResult
from watcher.layout import checkpoints_of, checkpoints_root
from watcher.storage import NotFound, Storage


def _stored(path: str, mime: str) -> Asset:
    """A figure whose bytes are in the checkpoint, not in memory (empty ``data``)."""
    return Asset(path=path, data=b"", mime=mime)


class Checkpoints:
    """The page checkpoints of one input version, in the output store."""

    def __init__(
        self, storage: Storage, input_key: str, sha256: str, engine: EngineInfo | None = None,
        figure_dpi: int | None = None,
    ) -> None:
        self.storage = storage
        self.root = checkpoints_root(input_key, keys_are_paths=storage.keys_are_paths)
        conversion = conversion_key(sha256, engine, figure_dpi)
        self.prefix = checkpoints_of(input_key, conversion, keys_are_paths=storage.keys_are_paths)

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
        if result.page.may_pass:  # done again next time, not kept
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
        """Drop this conversion's checkpoints (the document is published)."""
        for info in list(self.storage.list(self.prefix)):
            self.storage.delete(info.key)

    def clear_stale(self, quiet_for: float) -> list[str]:
        """Drop the folders of other conversions of this input that nothing has been written to
        for ``quiet_for`` seconds (a live attempt writes a page at least every page timeout);
        the folders removed."""
        newest: dict[str, datetime] = {}
        for info in self.storage.list(self.root):
            folder = info.key[len(self.root):].split("/", 1)[0]
            newest[folder] = max(newest.get(folder, info.modified), info.modified)
        cutoff = datetime.now(UTC) - timedelta(seconds=quiet_for)
        stale = [f for f, at in newest.items() if self.root + f + "/" != self.prefix and at < cutoff]
        for folder in stale:
            for info in list(self.storage.list(f"{self.root}{folder}/")):
                self.storage.delete(info.key)
        return stale


# options an engine records that say how it runs, not what it writes: replicas on other nodes
# (other CPU counts, their own VL server) resume each other's pages
_RUN_TIME_ONLY = frozenset({"page_workers", "pages_in_flight", "pipelines", "vl_rec_max_concurrency",
                            "vl_rec_server_url", "use_queues"})


def forget_pages(storage: Storage, input_key: str, numbers: list[int]) -> None:
    """Drop the checkpoints of these pages in every conversion of the input, so the next attempt
    converts them again (`docwatch retry --partial`: pages that failed for good last time)."""
    names = {f"p{n:06d}.json" for n in numbers}
    root = checkpoints_root(input_key, keys_are_paths=storage.keys_are_paths)
    for info in list(storage.list(root)):
        if info.key[len(root):].count("/") == 1 and info.key.rpartition("/")[2] in names:
            storage.delete(info.key)


def conversion_key(sha256: str, engine: EngineInfo | None, figure_dpi: int | None) -> str:
    """What names a conversion's pages: the input's bytes, the engine, its version and the options
    it records (those that shape its output), and the figure DPI."""
    if engine is None and figure_dpi is None:
        return sha256
    described = {"engine": None, "figure_dpi": figure_dpi}
    if engine is not None:
        options = {k: v for k, v in engine.options.items() if k not in _RUN_TIME_ONLY}
        described["engine"] = {"name": engine.name, "version": engine.version, "options": options}
    described = json.dumps(described, sort_keys=True)
    return hashlib.sha256(f"{sha256}|{described}".encode()).hexdigest()
