"""Parity with the official PaddleOCR-VL pipeline: docwatch's Markdown and JSON carry everything the
pipeline's own Markdown has, and DOCWATCH_PADDLE__MARKDOWN=pipeline|both writes exactly that Markdown.

The pages (tests/paddle_parity_pages.py) are realistic multi-block pages — a header, a document
title, titles of two levels, Russian and English text, a display formula with its number, a figure
with its caption, a seal (seal recognition on), a table continued onto the next page, a footnote,
footer, page number — run through the real paddleocr pipeline and result classes; only the layout
model is replaced (by one that reads the blocks' colours) and the VL model (by a stub server that
answers each block as a VL model would). The reference is the official way to use the pipeline:
``predict(pdf)`` -> ``restructure_pages`` -> ``concatenate_markdown_pages([res.markdown …])``.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from processor import ConvertOptions, EngineName, convert, render_markdown
from processor.document import BlockType
from processor.engines.paddle.engine import PaddleEngine
from processor.engines.paddle.blocks import LABEL_TYPES, strip_latex
from processor.engines.paddle.models import prepare_environment
from processor.options import PaddleEngineOptions
from processor.render import markdown_files, render_pipeline_markdown
from tests.paddle_parity_pages import PAGES, ColourLayoutModel, ParityVLServer, make_pdf

pytestmark = [
    pytest.mark.paddle,
    pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed"),
]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    prepare_environment(tmp / "pdx-cache")
    with ParityVLServer() as stub:
        options = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(
            use_layout_detection=False, vl_rec_backend="vllm-server", vl_rec_server_url=stub.base_url, device="cpu",
            use_seal_recognition=True, use_ocr_for_image_block=True, markdown="both", layout_threshold=0.35))  # fmt: skip
        eng = PaddleEngine(options)
        eng.load()  # no layout model to load; the colour layout model goes in its place
        layout = ColourLayoutModel()
        for pipeline in eng._pipelines:  # pages are spread over every instance
            inner = pipeline.paddlex_pipeline
            inner = getattr(inner, "_pipeline", inner)
            inner.layout_det_model, inner.use_layout_detection = layout, True
        try:
            pdf = make_pdf()
            doc = convert(pdf, options, engine=eng, name="report.pdf")
            (tmp / "report.pdf").write_bytes(pdf)
            official = eng._pipeline.restructure_pages(list(eng._pipeline.predict(
                str(tmp / "report.pdf"), **eng._predict_kwargs)))  # the same options, as a user would pass them
            official_md = eng._pipeline.concatenate_markdown_pages([res.markdown for res in official])
        finally:
            eng.close()
    assert not stub.wrong_prompts, stub.wrong_prompts  # every block was asked for with its own prompt
    assert layout.calls[0]["threshold"] == 0.35  # layout settings reach the layout model
    return doc, official, official_md


_PICTURE_LINK = re.compile(r"imgs/[^\"\s)]+|images/p\d+_\d+\.png")


def test_parity_pipeline_markdown_is_the_official_markdown(parity):
    doc, _, official_md = parity
    ours = render_pipeline_markdown(doc)
    assert "<table" in official_md and "ОТДЕЛ КАДРОВ" in official_md and "Q1 Q2" in official_md  # not empty
    # identical but for the picture names: docwatch links the crops it writes beside the Markdown
    assert _PICTURE_LINK.sub("IMG", ours) == _PICTURE_LINK.sub("IMG", official_md)
    linked = set(re.findall(r"images/p\d+_\d+\.png", ours))
    assert linked and linked <= {a.path for a in doc.assets}
    files = dict(markdown_files(doc))
    assert files == {".md": render_markdown(doc), ".pipeline.md": ours}
    assert doc.engine.options["markdown"] == "both"


def _cells(table: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)
    return [[c.strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, flags=re.S)] for r in rows]


def content(md: str) -> tuple[list[str], list[list[list[str]]], list[str], list[tuple[int, str]]]:
    """(words in order with TABLE/FORMULA/IMAGE marks, tables as cells, formulas, headings) of a Markdown."""
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    tables = [_cells(t) for t in re.findall(r"<table.*?</table>", md, flags=re.S)]
    md = re.sub(r"<table.*?</table>", " TABLE ", md, flags=re.S)
    formulas = [" ".join(f.split()) for f in re.findall(r"\$\$(.*?)\$\$", md, flags=re.S)]
    md = re.sub(r"\$\$.*?\$\$", " FORMULA ", md, flags=re.S)
    md = re.sub(r"!\[[^\]]*\]\([^)]*\)|<img[^>]*>", " IMAGE ", md)
    md = re.sub(r"<[^>]+>", " ", md)
    headings = [(len(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^(#+)\s+(.*)$", md, flags=re.M)]
    md = re.sub(r"^#+\s", "", md, flags=re.M)
    return md.split(), tables, formulas, headings


def test_parity_docwatch_markdown_has_the_same_text_order_tables_formulas(parity):
    doc, _, official_md = parity
    words, tables, formulas, headings = content(render_markdown(doc))
    o_words, o_tables, o_formulas, o_headings = content(official_md)
    assert words == o_words
    assert tables == o_tables and len(tables) == 1 and len(tables[0]) == 5  # joined across the pages
    assert formulas == o_formulas == ["R = \\frac{P}{C} \\cdot 100\\%"]
    assert [t for _, t in headings] == [t for _, t in o_headings]
    # heading levels: as many distinct levels, in the same order relations, as the pipeline's
    levels, o_levels = [n for n, _ in headings], [n for n, _ in o_headings]
    assert all((a < b) == (c < d) and (a == b) == (c == d)
               for a, c in zip(levels, o_levels) for b, d in zip(levels, o_levels))  # fmt: skip
    assert len(set(o_levels)) >= 3  # doc title, "1 …" and "1.1 …" are three levels


def test_parity_json_has_every_block_with_polygon_ids_and_seal_text(parity):
    doc, official, _ = parity
    assert len(doc.pages) == len(official) == len(PAGES)
    for page, res in zip(doc.pages, official, strict=True):
        theirs = res["parsing_res_list"]
        assert len(page.blocks) == len(theirs)
        for ours, blk in zip(page.blocks, theirs, strict=True):
            assert ours.type is LABEL_TYPES[blk.label], blk.label
            scale = page.width / res["width"]
            assert ours.bbox.x0 == pytest.approx(blk.bbox[0] * scale, abs=1) and ours.bbox.y1 == pytest.approx(
                blk.bbox[3] * scale, abs=1)  # fmt: skip
            # pytest 9's approx takes flat sequences of numbers, not a list of points
            assert len(ours.polygon) == len(blk.polygon_points)
            assert [c for pt in ours.polygon for c in pt] == pytest.approx(
                [c for x, y in blk.polygon_points for c in (x * scale, y * scale)], abs=1)  # fmt: skip
            assert (ours.block_id, ours.group_id) == (blk.global_block_id, blk.global_group_id)
            if ours.type is BlockType.TABLE:
                assert ours.html == blk.content
            elif ours.type is BlockType.FORMULA:
                assert ours.latex == strip_latex(blk.content)
            elif ours.image is None:
                assert (ours.text or "").strip() == re.sub(r"^#+\s", "", blk.content).strip()
    figure, seal = (b for b in doc.pages[0].blocks if b.type is BlockType.FIGURE)
    assert seal.text == "ОТДЕЛ КАДРОВ" and seal.image is not None  # seal recognition: the seal's text kept
    assert figure.text == "Q1 Q2 Q3 Q4" and figure.image is not None  # use_ocr_for_image_block: likewise
    first, rest = (next(b for b in p.blocks if b.type is BlockType.TABLE) for p in doc.pages)
    assert rest.group_id == first.block_id != rest.block_id and rest.html == ""  # its rows moved to page 1
    titles = [b for b in doc.pages[0].blocks if b.type is BlockType.HEADING]
    assert [b.text for b in titles] == ["1 Введение", "1.1 Scope of the report"]
    assert titles[0].level < titles[1].level


def test_parity_blocks_carry_layout_scores_table_cells_and_linked_captions(parity):
    doc, _, _ = parity
    scored = [(b.type, b.text, b.confidence) for p in doc.pages for b in p.blocks]
    expected = {spec.answer: spec.score for page in PAGES for spec in page}
    for page in doc.pages:
        for block in page.blocks:
            # each block's own layout score: restructure_pages' revisions (the merged table) keep theirs
            if block.type is BlockType.TABLE:
                assert block.confidence == pytest.approx(0.77 if page.number == 1 else 0.93), scored
            elif block.type is BlockType.CAPTION:
                assert block.confidence == pytest.approx(expected[block.text]), scored
            else:
                assert block.confidence == pytest.approx(0.93), scored
            assert block.lines is None  # PaddleOCR-VL reads blocks whole: no line boxes
    table = next(b for b in doc.pages[0].blocks if b.type is BlockType.TABLE)
    rows: dict[int, list[str]] = {}
    for cell in table.cells:
        assert cell.bbox is None and cell.row_span == cell.col_span == 1  # the VL model gives no cell boxes
        rows.setdefault(cell.row, []).append(cell.text)
    assert [rows[r] for r in sorted(rows)] == _cells(table.html) and len(rows) == 5  # both pages' rows
    caption = next(b for b in doc.pages[0].blocks if b.type is BlockType.CAPTION)
    figure = next(b for b in doc.pages[0].blocks if b.id == caption.caption_of)
    assert figure.type is BlockType.FIGURE and figure.text == "Q1 Q2 Q3 Q4"  # the chart, not the seal beside it
    assert f"![{caption.text}]({figure.image.path})" in render_markdown(doc)
    assert f"![{caption.text}]" not in render_pipeline_markdown(doc)  # the pipeline's own Markdown stays its own


def test_parity_without_merging_pages_the_pipeline_markdown_is_what_the_bare_pipeline_writes(tmp_path):
    """merge_pages off: each page's own res.markdown, joined as concatenate_markdown_pages joins them,
    equals what the bare pipeline (engine.run_bare: predict(file), no restructure) writes."""
    from tests.paddle_docs import PAGE_TEXTS, make_pdf as make_text_pdf
    from tests.vl_stub_server import StubVLServer

    prepare_environment(tmp_path / "pdx-cache")
    with StubVLServer() as stub:
        options = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(
            use_layout_detection=False, vl_rec_backend="vllm-server", vl_rec_server_url=stub.base_url, device="cpu",
            markdown="pipeline", merge_pages=False))  # fmt: skip
        eng = PaddleEngine(options)
        eng.load()
        try:
            pdf = make_text_pdf()
            doc = convert(pdf, options, engine=eng, name="bilingual.pdf")
            (tmp_path / "bilingual.pdf").write_bytes(pdf)
            bare, pages = eng.run_bare(tmp_path / "bilingual.pdf")
        finally:
            eng.close()
    assert pages == 2 and all(p.pipeline_markdown for p in doc.pages)
    assert markdown_files(doc) == [(".md", bare)]  # markdown=pipeline: the pipeline's Markdown is the .md
    assert PAGE_TEXTS[1][0].split(":")[0] in bare
