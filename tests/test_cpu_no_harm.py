"""The CPU engine does no harm: on generated pages of the kinds where a stage was seen to lose or
scramble text (tests/docs_harm.py), the run-time check against the plain read undoes that stage,
records it in ``page.fallbacks``, and the page keeps what plain Tesseract reads. Every block
carries a confidence."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pymupdf

from processor import ConvertOptions, convert
from processor.document import FallbackStage, PageMethod
from processor.engines.cpu.plain_read import MIN_PAGE_RECALL, agreement, tokens
from processor.render.markdown import render_markdown
from tests.docs_harm import make_broken_tounicode_code_pdf, make_index_scan, make_wide_table_scan


def _convert(path: Path):
    return convert(path, ConvertOptions())


def _plain_tesseract(path: Path) -> list[str]:
    """What plain Tesseract reads on the page rendered at 300 DPI (its own segmentation)."""
    page = pymupdf.open(path)[0]
    png = path.with_suffix(".plain.png")
    page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY).save(png)
    out = subprocess.run(["tesseract", str(png), "stdout", "-l", "rus+eng"], capture_output=True, check=True)
    return tokens(out.stdout.decode())


def test_a_code_listing_whose_tounicode_map_lies_is_read_by_ocr(tmp_path: Path):
    made = make_broken_tounicode_code_pdf(tmp_path / "code.pdf", seed=1)
    layer = tokens(pymupdf.open(made.path)[0].get_text())
    truth = tokens(made.text)
    assert agreement(truth, layer).recall < 0.5  # the layer's letters are wrong: the test is real
    doc = _convert(made.path)
    page = doc.pages[0]
    assert any(f.stage is FallbackStage.TEXT_LAYER for f in page.fallbacks), page.fallbacks
    kept = agreement(truth, tokens(render_markdown(doc)))
    assert kept.recall > 0.9 and kept.order > 0.9


def test_a_slightly_turned_ruled_table_that_loses_its_words_becomes_text_in_the_plain_order(tmp_path: Path):
    made = make_wide_table_scan(tmp_path / "table.pdf", ruled=True, seed=0, angle=1.0, rows=14)
    doc = _convert(made.path)
    page = doc.pages[0]
    assert page.method is PageMethod.OCR
    truth = tokens(made.text)
    got = agreement(truth, tokens(render_markdown(doc)))
    assert got.recall > 0.9 and got.order > 0.9, (got, page.fallbacks)
    assert all(b.confidence is not None and 0 <= b.confidence <= 1 for b in page.blocks)


def test_a_scanned_two_column_index_reads_column_by_column(tmp_path: Path):
    made = make_index_scan(tmp_path / "index.pdf", language="ru", seed=2, lines_per_column=30)
    doc = _convert(made.path)
    got = agreement(tokens(made.text), tokens(render_markdown(doc)))
    assert got.recall > 0.9 and got.order > 0.9, got


def test_the_result_keeps_what_plain_tesseract_reads(tmp_path: Path):
    """The property the engine checks at run time, checked from outside: the page's result holds
    at least MIN_PAGE_RECALL of plain Tesseract's words (its own run, not the engine's), here on
    a lightly ruled table (the dev corpus is checked the same way: tests/test_dev_corpus.py)."""
    made = make_wide_table_scan(tmp_path / "page.pdf", ruled=False, seed=4, rows=8)
    doc = _convert(made.path)
    result = [t for b in doc.pages[0].blocks for t in tokens(b.text or b.html or "")]
    assert agreement(_plain_tesseract(made.path), result).recall >= MIN_PAGE_RECALL
