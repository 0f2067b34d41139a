"""The whole conversion, top to bottom: open -> engine pages -> one typed Document."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from processor.document import Document, Page, PageMethod
from processor.engines import Engine, create_engine
from processor.errors import CorruptInput
from processor.options import ConvertOptions
from processor.source import open_source

_NOTHING = (PageMethod.BLANK, PageMethod.NONE)
ProgressCallback = Callable[[Page, int], None]  # (page just done, total pages)


def convert(
    src: Path | str | bytes,
    options: ConvertOptions | None = None,
    *,
    engine: Engine | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    opened: Callable[[int], None] | None = None,
) -> Document:
    """Convert a PDF or page image. Raises ``ConversionError`` when nothing can be converted;
    a page that fails is recorded on the page and the rest of the document goes on.
    ``opened`` hears the page count once the input is open (before any page is converted)."""
    options = options or ConvertOptions()
    own_engine = engine is None
    engine = engine or create_engine(options)
    try:
        if own_engine:
            engine.load()
        with open_source(src if isinstance(src, bytes) else Path(src), options, name=name) as source:
            if opened:
                opened(source.info.page_count)
            pages, assets = [], []
            for result in engine.pages(source):
                pages.append(result.page)
                assets.extend(result.assets)
                if progress:
                    progress(result.page, source.info.page_count)
            if source.info.repaired and all(p.method in _NOTHING for p in pages):
                raise CorruptInput("the PDF is damaged (truncated?); repairing it recovered no content")
            return Document(source=source.info, engine=engine.info, pages=pages, assets=assets)
    finally:
        if own_engine:
            engine.close()
