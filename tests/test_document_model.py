"""The typed document and its renderers, on hand-built documents."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from processor import Document, document_json, render_markdown
from processor.document import (BBox, Block, BlockType, EngineInfo, ErrorInfo, ImageRef, InputFormat, Page,
                                PageMethod, PageStatus, PageUnit, SourceInfo)

BOX = BBox(x0=0, y0=0, x1=10, y1=10)


def page(number: int, blocks: list[Block], **kw) -> Page:
    return Page(number=number, width=595, height=842, unit=PageUnit.POINT, method=PageMethod.TEXT_LAYER,
                blocks=blocks, **kw)


def doc(pages: list[Page]) -> Document:
    src = SourceInfo(name="x.pdf", format=InputFormat.PDF, size=1, sha256="0" * 64, page_count=len(pages))
    return Document(source=src, engine=EngineInfo(name="test", version="1"), pages=pages)


def test_a_block_holds_exactly_one_content_and_furniture_has_no_order() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Block(type=BlockType.TEXT, bbox=BOX, order=0, text="a", html="<p>a</p>")
    with pytest.raises(ValidationError, match="exactly one"):
        Block(type=BlockType.TEXT, bbox=BOX, order=0)
    # a picture may carry the text read inside it (a seal's); nothing else pairs contents
    seal = Block(type=BlockType.FIGURE, bbox=BOX, order=0, text="ОТДЕЛ", image=ImageRef(path="i.png", width=1, height=1))
    assert seal.content_kind.value == "image"
    with pytest.raises(ValidationError, match="exactly one"):
        Block(type=BlockType.TEXT, bbox=BOX, order=0, text="a", image=ImageRef(path="i.png", width=1, height=1))
    with pytest.raises(ValidationError, match="reading order"):
        Block(type=BlockType.FOOTER, bbox=BOX, order=3, text="p. 3")


def test_markdown_pages_headings_tables_figures_and_furniture() -> None:
    p1 = page(1, [
        Block(type=BlockType.HEADER, bbox=BOX, text="Running head"),
        Block(type=BlockType.TITLE, bbox=BOX, order=0, text="Отчёт"),
        Block(type=BlockType.HEADING, bbox=BOX, order=1, level=3, text="Раздел"),
        Block(type=BlockType.TEXT, bbox=BOX, order=3, text="Second paragraph."),
        Block(type=BlockType.TEXT, bbox=BOX, order=2, text="First paragraph."),
        Block(type=BlockType.LIST_ITEM, bbox=BOX, order=4, text="пункт"),
        Block(type=BlockType.TABLE, bbox=BOX, order=5, html="<table><tr><td>1</td></tr></table>"),
        Block(type=BlockType.FORMULA, bbox=BOX, order=6, latex="E=mc^2"),
        Block(type=BlockType.FIGURE, bbox=BOX, order=7, image=ImageRef(path="images/p1_1.png", width=5, height=5)),
        Block(type=BlockType.PAGE_NUMBER, bbox=BOX, text="1"),
    ])
    p2 = page(2, [Block(type=BlockType.HEADING, bbox=BOX, order=0, level=4, text="Подраздел")])
    p3 = page(3, [], status=PageStatus.FAILED, error=ErrorInfo(type="X", message="bad -- page"))
    md = render_markdown(doc([p1, p2, p3]))
    assert md == (
        "<!-- page 1 -->\n\n# Отчёт\n\n## Раздел\n\nFirst paragraph.\n\nSecond paragraph.\n\n- пункт\n\n"
        "<table><tr><td>1</td></tr></table>\n\n$$\nE=mc^2\n$$\n\n![figure](images/p1_1.png)\n\n"
        "<!-- page 2 -->\n\n### Подраздел\n\n<!-- page 3 -->\n\n<!-- page 3 failed: bad — page -->\n"
    )


def test_json_round_trips_and_keeps_failed_pages() -> None:
    d = doc([page(1, [Block(type=BlockType.TEXT, bbox=BOX, order=0, text="т")]),
             page(2, [], status=PageStatus.FAILED, error=ErrorInfo(type="X", message="m", retryable=True))])
    again = Document.model_validate_json(document_json(d))
    assert again == d and again.failed_pages[0].number == 2 and again.ok


def test_markdown_files_follow_the_engine_markdown_option() -> None:
    from processor.render import markdown_files

    p = page(1, [Block(type=BlockType.TEXT, bbox=BOX, order=0, text="ours")], pipeline_markdown="theirs")
    d = doc([p])
    assert markdown_files(d) == [(".md", "<!-- page 1 -->\n\nours\n")]  # no option: docwatch's
    d.engine.options["markdown"] = "pipeline"
    assert markdown_files(d) == [(".md", "\n\ntheirs")]
    d.engine.options["markdown"] = "both"
    assert markdown_files(d) == [(".md", "<!-- page 1 -->\n\nours\n"), (".pipeline.md", "\n\ntheirs")]
    assert "theirs" not in document_json(d)  # the pipeline's Markdown is a file of its own, not JSON
