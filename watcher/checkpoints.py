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

from processor.document import Asset, Page
from processor.engines import PageResult
from watcher.layout import checkpoints_of, checkpoints_root
from watcher.storage import NotFound, Storage


def _stored(path: str, mime: str) -> Asset:
    """A figure whose bytes are in the checkpoint, not in memory (empty ``data``)."""
    return Asset(path=path, data=b"", mime=mime)


class Checkpoints:
    """The page checkpoints of one input version, in the output store."""

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
        """Drop the checkpoints of every version of this input (the document is published)."""
        for info in list(self.storage.list(self.root)):
            self.storage.delete(info.key)
