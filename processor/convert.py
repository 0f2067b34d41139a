"""The whole conversion, top to bottom: open -> engine pages -> one typed Document."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from processor.document import Document, PageMethod
from processor.backoff import backoff
from processor.engines import Engine, PageResult, create_engine
from processor.enrich import enrich_page
from processor.errors import CorruptInput
from processor.options import ConvertOptions
from processor.source import open_source

_NOTHING = (PageMethod.BLANK, PageMethod.NONE)
_RETRY_BACKOFF = 2.0  # bound of the first wait before a page that may pass is tried again; doubles
ProgressCallback = Callable[[PageResult, int], None]  # (page just done, with its figures; total pages)


def convert(
    src: Path | str | bytes,
    options: ConvertOptions | None = None,
    *,
    engine: Engine | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    opened: Callable[[int], None] | None = None,
    skip: Collection[int] = (),
    keep_assets: bool = True,
) -> Document:
    """Convert a PDF or page image. Raises ``ConversionError`` when nothing can be converted;
    a page that fails is recorded on the page and the rest of the document goes on. A page
    whose failure may pass (a VL server's 503, a timeout) is tried again, up to
    ``options.page_retries`` times, before it is left failed.

    ``opened`` hears the page count once the input is open; ``skip`` names pages already
    converted by an earlier attempt (resuming): the Document then holds only the others.
    ``keep_assets=False``: figures go to ``progress`` only, so memory does not grow with pages."""
    options = options or ConvertOptions()
    own_engine = engine is None
    engine = engine or create_engine(options)
    try:
        if own_engine:
            engine.load()
        with open_source(src if isinstance(src, bytes) else Path(src), options, name=name) as source:
            total = source.info.page_count
            if opened:
                opened(total)
            results: dict[int, PageResult] = {}
            todo: Collection[int] | None = [n for n in range(1, total + 1) if n not in skip] if skip else None
            for attempt in range(options.page_retries + 1):
                if attempt:
                    time.sleep(backoff(_RETRY_BACKOFF, attempt))
                for result in engine.pages(source, only=todo):
                    result = PageResult(enrich_page(result.page, options), result.assets, revised=result.revised)
                    if progress:
                        progress(result, total)
                    result = result.keeping_figures_of(results.get(result.page.number))
                    results[result.page.number] = result if keep_assets else PageResult(result.page)
                todo = [n for n, r in results.items() if r.page.may_pass]
                if not todo:
                    break
            pages = [results[n].page for n in sorted(results)]
            if source.info.repaired and all(p.method in _NOTHING for p in pages) and not skip:
                raise CorruptInput("the PDF is damaged (truncated?); repairing it recovered no content")
            assets = [a for n in sorted(results) for a in results[n].assets]
            return Document(source=source.info, engine=engine.info, pages=pages, assets=assets)
    finally:
        if own_engine:
            engine.close()
