"""A test/bench engine that takes a fixed time per page and uses no CPU doing it.

Plugged in with ``DOCWATCH_ENGINE_CLASS=tests.fixed_latency_engine:FixedLatencyEngine``; the
seconds per page come from ``DOCWATCH_FIXED_ENGINE_SECONDS`` (default 0.1). It stands for an
accelerator that is never the bottleneck's cause: whatever time a document takes beyond
``pages x seconds`` is the daemon's own. If ``DOCWATCH_FIXED_ENGINE_LOG`` names a file, each page
appends one line ``start end`` (wall-clock seconds), from which a bench computes the engine's
busy time. Pages of every document in flight queue for it one at a time (one accelerator).

``DOCWATCH_FIXED_ENGINE_HANG`` names a file: while it exists and holds a page number, that page
of every document (not the warm-up) hangs, as a wedged accelerator would, until the file is gone
or the process is killed; once the file is removed the engine works again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path

from processor.document import BBox, Block, BlockType, EngineInfo, Page, PageMethod, PageUnit
from processor.engines.base import Engine, PageResult
from processor.source import OpenedInput


_ACCELERATOR = threading.Lock()  # one page at a time, whichever document it belongs to


class FixedLatencyEngine(Engine):
    @property
    def seconds(self) -> float:
        return float(os.environ.get("DOCWATCH_FIXED_ENGINE_SECONDS", "0.1"))

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="fixed-latency", version="test", options={"seconds_per_page": self.seconds})

    def load(self) -> None:
        pass

    def pages(self, source: OpenedInput, only: Collection[int] | None = None) -> Iterator[PageResult]:
        log = os.environ.get("DOCWATCH_FIXED_ENGINE_LOG")
        for index in range(source.info.page_count):
            number = index + 1
            if only is not None and number not in only:
                continue
            if source.info.name != "warm-up.pdf":  # the engine still loads: the hang is in real work
                _hang_while_asked(number)
            with _ACCELERATOR:
                started = time.time()
                time.sleep(self.seconds)  # the accelerator's turn: wall time, no CPU
                ended = time.time()
            rect = source.doc[index].rect
            block = Block(type=BlockType.TEXT, bbox=BBox(x0=0, y0=0, x1=rect.width, y1=rect.height), order=0,
                          text=f"page {number} of {source.info.name}")  # fmt: skip
            page = Page(number=number, width=rect.width, height=rect.height, unit=PageUnit.POINT,
                        method=PageMethod.OCR, blocks=[block], seconds=self.seconds)  # fmt: skip
            if log:
                with open(log, "a") as f:  # one short append per page: atomic enough for a bench
                    f.write(f"{started:.6f} {ended:.6f}\n")
            yield PageResult(page)


def _hang_while_asked(number: int) -> None:
    path = os.environ.get("DOCWATCH_FIXED_ENGINE_HANG")
    while path and _hang_page(Path(path)) == number:
        time.sleep(0.2)


def _hang_page(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return None
