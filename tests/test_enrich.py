"""The document step every engine's pages go through (processor/enrich.py): block ids, table cells
from the table's HTML, captions linked to their figure or table, figure alt text from the caption,
and lines kept only with DOCWATCH_DOCUMENT__LINES=true."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator

import pytest

from processor import ConvertOptions, convert, render_markdown
from processor.document import (
    BBox,
    Block,
    BlockType,
    Document,
    EngineInfo,
    ImageRef,
    InputFormat,
    Line,
    Page,
    PageMethod,
    PageUnit,
    SourceInfo,
    Word,
)
from processor.engines import Engine, PageResult
from processor.enrich import enrich_page
from processor.source import OpenedInput
from processor.table_cells import table_cells
from tests.docs import make_captioned_pdf, make_text_pdf

SPANNED = (
    '<table><thead><tr><th rowspan="2">Region</th><th colspan="2">Sales &amp; share</th></tr>'
    "<tr><th>2023</th><th>2024</th></tr></thead>"
    '<tbody><tr><td>North</td><td>1<br>2</td><td rowspan="2">3</td></tr>'
    "<tr><td>South</td><td>5</td></tr></tbody></table>"
)


def grid(html: str) -> list[tuple]:
    return [(c.row, c.col, c.row_span, c.col_span, c.header, c.text) for c in table_cells(html) or []]


def test_cells_take_their_grid_place_around_rowspans_and_colspans():
    assert grid(SPANNED) == [
        (0, 0, 2, 1, True, "Region"), (0, 1, 1, 2, True, "Sales & share"),
        (1, 1, 1, 1, True, "2023"), (1, 2, 1, 1, True, "2024"),  # column 0 is Region's, from the row above
        (2, 0, 1, 1, False, "North"), (2, 1, 1, 1, False, "1 2"), (2, 2, 2, 1, False, "3"),
        (3, 0, 1, 1, False, "South"), (3, 1, 1, 1, False, "5"),
    ]  # fmt: skip


def test_cells_of_odd_tables():
    # a table nested in a cell is that cell's text; a rowspan past the last row ends with the table;
    # an unreadable span counts as 1; a row without <tr> (as VL models write) still counts
    html = ('<table><td rowspan="9">a</td><td colspan="x">b<table><tr><td>in</td></tr></table></td>'
            "<tr><td>c</td></tr></table><table><tr><td>second table</td></tr></table>")
    assert grid(html) == [(0, 0, 2, 1, False, "a"), (0, 1, 1, 1, False, "b in"), (1, 1, 1, 1, False, "c")]
    assert table_cells("") is None and table_cells("<p>no table</p>") is None


def box(x0: float, y0: float, x1: float, y1: float) -> BBox:
    return BBox(x0=x0, y0=y0, x1=x1, y1=y1)


def picture(bbox: BBox, order: int) -> Block:
    return Block(type=BlockType.FIGURE, bbox=bbox, order=order, image=ImageRef(path=f"images/p1_{order}.png",
                                                                                width=1, height=1))


def a_page(blocks: list[Block]) -> Page:
    return Page(number=3, width=595, height=842, unit=PageUnit.POINT, method=PageMethod.TEXT_LAYER, blocks=blocks)


def test_captions_link_to_the_nearest_figure_or_table_that_overlaps_them():
    blocks = [
        picture(box(60, 80, 280, 240), 0),                                            # left column figure
        Block(type=BlockType.TABLE, bbox=box(310, 80, 535, 240), order=1, html=SPANNED),  # right column table
        Block(type=BlockType.CAPTION, bbox=box(60, 246, 280, 258), order=2, text="Sales by region"),
        Block(type=BlockType.CAPTION, bbox=box(310, 60, 535, 74), order=3, text="Regional totals"),  # above
        Block(type=BlockType.TEXT, bbox=box(60, 280, 535, 320), order=4, text="Body text."),
        picture(box(60, 340, 535, 500), 5),
        Block(type=BlockType.CAPTION, bbox=box(60, 760, 535, 772), order=6, text="Far below everything"),
        Block(type=BlockType.CAPTION, bbox=box(60, 506, 300, 518), order=7, text="Table 2: named"),
        Block(type=BlockType.TABLE, bbox=box(60, 530, 535, 560), order=8, html="<table><tr><td>x</td></tr></table>"),
    ]  # fmt: skip
    page = enrich_page(a_page(blocks), ConvertOptions())
    ids = [b.id for b in page.blocks]
    assert ids == [f"p3-b{i}" for i in range(9)]
    links = {b.text: b.caption_of for b in page.blocks if b.type is BlockType.CAPTION}
    assert links == {
        "Sales by region": "p3-b0",  # under the left figure, not the table beside it
        "Regional totals": "p3-b1",  # above the table it overlaps
        "Far below everything": None,  # nothing within a fifth of the page
        "Table 2: named": "p3-b8",  # names a table: the table 12 pt below, not the figure 6 pt above
    }
    assert page.blocks[1].cells is not None and len(page.blocks[1].cells) == 9
    assert blocks[2].caption_of is None and blocks[0].id is None  # the engine's page is left as it was


def doc_of(page: Page) -> Document:
    src = SourceInfo(name="x.pdf", format=InputFormat.PDF, size=1, sha256="0" * 64, page_count=1)
    return Document(source=src, engine=EngineInfo(name="test", version="1"), pages=[page])


def test_figure_alt_text_is_its_caption():
    chart = Block(type=BlockType.CHART, bbox=box(60, 600, 535, 700), order=3,
                  image=ImageRef(path="images/p3_3.png", width=1, height=1))
    blocks = [picture(box(60, 80, 535, 240), 0),
              Block(type=BlockType.CAPTION, bbox=box(60, 246, 535, 270), order=1, text="Figure 3: Sales\n[by] region"),
              picture(box(60, 300, 535, 500), 2), chart]  # fmt: skip
    md = render_markdown(doc_of(enrich_page(a_page(blocks), ConvertOptions())))
    assert "![Figure 3: Sales \\[by\\] region](images/p1_0.png)\n\nFigure 3: Sales\n[by] region" in md
    assert "![figure](images/p1_2.png)" in md and "![chart](images/p3_3.png)" in md  # no caption: the kind


class LinesEngine(Engine):
    """Every page one text block carrying its lines and words, as an engine that reads lines does."""

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="lines", version="1")

    def load(self) -> None:
        pass

    def pages(self, source: OpenedInput, only: Collection[int] | None = None) -> Iterator[PageResult]:
        for n in range(1, source.info.page_count + 1):
            word = Word(text="Hello", bbox=box(60, 72, 90, 84), confidence=0.96)
            line = Line(text="Hello", bbox=box(60, 72, 90, 84), confidence=0.96, words=[word])
            block = Block(type=BlockType.TEXT, bbox=box(60, 72, 90, 84), order=0, text="Hello", lines=[line],
                          confidence=0.96)
            yield PageResult(Page(number=n, width=595, height=842, unit=PageUnit.POINT, method=PageMethod.OCR,
                                  blocks=[block]))


def test_lines_only_with_document_lines_on(tmp_path, monkeypatch):
    from watcher.settings import Settings

    pdf = make_text_pdf(tmp_path / "a.pdf", ["Hello"]).path
    monkeypatch.setenv("DOCWATCH_ENGINE_CLASS", "tests.test_enrich:LinesEngine")
    off = convert(pdf, Settings().convert_options())
    assert off.pages[0].blocks[0].lines is None and off.pages[0].blocks[0].confidence == 0.96
    monkeypatch.setenv("DOCWATCH_DOCUMENT__LINES", "true")
    monkeypatch.setenv("DOCWATCH_OUTPUT", str(tmp_path / "out"))  # the output folder: a setting of its own
    settings = Settings()
    assert settings.output == str(tmp_path / "out") and settings.document.lines
    on = convert(pdf, settings.convert_options())
    (line,) = on.pages[0].blocks[0].lines
    assert (line.text, line.confidence, line.words[0].bbox) == ("Hello", 0.96, box(60, 72, 90, 84))
    assert '"words"' in on.model_dump_json() and on.pages[0].blocks[0].id == "p1-b0"


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_cpu_engine_conversion_links_captions_and_gives_table_cells(tmp_path):
    gen = make_captioned_pdf(tmp_path / "captioned.pdf")
    options = ConvertOptions()
    options.cpu.page_workers = 1
    doc = convert(gen.path, options)
    blocks = {b.id: b for b in doc.pages[0].blocks}
    captions = {b.text: blocks.get(b.caption_of or "") for b in blocks.values() if b.type is BlockType.CAPTION}
    fig_caption, table_caption = gen.captions
    assert captions[fig_caption].type is BlockType.FIGURE and captions[table_caption].type is BlockType.TABLE
    table = captions[table_caption]
    rows: dict[int, list[str]] = {}
    for cell in table.cells:
        rows.setdefault(cell.row, []).append(cell.text)
    assert [rows[r] for r in sorted(rows)] == gen.table_cells
    assert all(c.row_span == c.col_span == 1 for c in table.cells) and table.cells[0].header
    figure = captions[fig_caption]
    assert f"![{fig_caption}]({figure.image.path})" in render_markdown(doc)
