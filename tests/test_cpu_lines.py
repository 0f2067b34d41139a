"""The CPU engine's lines and words (document.lines) and block confidences: OCR'd pages carry
Tesseract's lines and words with their scores, text-layer pages the layer's lines and words at
1.0; boxes nest (word in line in block) in the page's own frame, turned pages included; off by
default, and recorded in the engine's options only when on (checkpoints keep their names)."""

from __future__ import annotations

from pathlib import Path

from processor import ConvertOptions, convert
from processor.document import Block, BlockType, PageMethod
from processor.engines.cpu import CpuEngine
from processor.engines.cpu.plain_read import tokens
from processor.options import DocumentOptions
from tests.docs import make_scan_png, make_scanned_pdf, make_text_pdf

TOLERANCE = 2.0  # page units: boxes are rounded to 0.01, words measured on the glyphs


def _within(inner, outer) -> bool:
    return (inner.x0 >= outer.x0 - TOLERANCE and inner.y0 >= outer.y0 - TOLERANCE
            and inner.x1 <= outer.x1 + TOLERANCE and inner.y1 <= outer.y1 + TOLERANCE)


def _with_lines() -> ConvertOptions:
    return ConvertOptions(document=DocumentOptions(lines=True))


def _text_blocks(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.text is not None and b.type not in (BlockType.FIGURE, BlockType.CHART)]


def _check_nesting(block: Block) -> None:
    assert block.lines, block
    for line in block.lines:
        assert _within(line.bbox, block.bbox), (line, block.bbox)
        assert line.words, line
        for word in line.words:
            assert _within(word.bbox, line.bbox), (word, line.bbox)
            assert word.confidence is None or 0 <= word.confidence <= 1
    # every word the block says is one of its lines' words
    said = [t for line in block.lines for word in line.words for t in tokens(word.text)]
    missing = set(tokens(block.text)) - set(said)
    assert not missing, missing


def test_a_scan_gives_lines_and_words_with_scores(tmp_path: Path):
    doc = convert(make_scanned_pdf(tmp_path / "scan.pdf").path, _with_lines())
    page = doc.pages[0]
    assert page.method is PageMethod.OCR
    blocks = _text_blocks(page.blocks)
    assert blocks
    for block in blocks:
        _check_nesting(block)
        assert 0 < block.confidence <= 1
        assert all(line.confidence is not None and 0 < line.confidence <= 1 for line in block.lines)


def test_a_sideways_scan_gives_its_boxes_in_the_pages_own_frame(tmp_path: Path):
    doc = convert(make_scan_png(tmp_path / "sideways.png", quarter_turns=1).path, _with_lines())
    page = doc.pages[0]
    assert page.width < page.height or page.width > page.height  # a real page, not a square
    for block in _text_blocks(page.blocks):
        _check_nesting(block)
        assert block.bbox.x1 <= page.width + TOLERANCE and block.bbox.y1 <= page.height + TOLERANCE
    # turned back: lines of a page scanned sideways stand taller than wide in the image's frame
    lines = [line for b in _text_blocks(page.blocks) for line in b.lines if len(line.text) > 20]
    assert lines and all(line.bbox.y1 - line.bbox.y0 > line.bbox.x1 - line.bbox.x0 for line in lines)


def test_a_text_layer_gives_its_lines_at_full_confidence(tmp_path: Path):
    made = make_text_pdf(tmp_path / "t.pdf", ["Первая строка отчёта о работе.\n\nA second paragraph in English."])
    page = convert(made.path, _with_lines()).pages[0]
    assert page.method is PageMethod.TEXT_LAYER
    for block in _text_blocks(page.blocks):
        _check_nesting(block)
        assert block.confidence == 1.0
        assert all(line.confidence == 1.0 for line in block.lines)


def test_lines_are_off_by_default_and_confidence_is_always_there(tmp_path: Path):
    page = convert(make_text_pdf(tmp_path / "t.pdf", ["Some text on a page."]).path, ConvertOptions()).pages[0]
    assert page.blocks
    assert all(b.lines is None for b in page.blocks)
    assert all(b.confidence is not None for b in page.blocks)  # scans: test_a_scan_gives_lines_and_words...


def test_the_engine_records_lines_only_when_on():
    assert "lines" not in CpuEngine(ConvertOptions()).info.options
    assert CpuEngine(_with_lines()).info.options["lines"] is True


def _table_cells_lie_in_their_table(path: Path) -> int:
    tables = [b for p in convert(path, ConvertOptions()).pages for b in p.blocks if b.type is BlockType.TABLE]
    assert tables
    for table in tables:
        assert table.cells and all(c.bbox is not None for c in table.cells)
        assert all(_within(c.bbox, table.bbox) for c in table.cells), (table.bbox, table.cells)
    return len(tables)


def test_table_cells_carry_their_boxes_on_text_layers_scans_and_rotated_pages(tmp_path: Path):
    import pymupdf

    from tests.docs import make_structured_pdf, scan_of

    made = make_structured_pdf(tmp_path / "t.pdf")
    _table_cells_lie_in_their_table(made.path)
    _table_cells_lie_in_their_table(scan_of(made, tmp_path / "t.png").path)
    with pymupdf.open(made.path) as pdf:  # shown turned by /Rotate: boxes in the shown page's frame
        pdf[0].set_rotation(90)
        pdf.save(tmp_path / "rotated.pdf")
    _table_cells_lie_in_their_table(tmp_path / "rotated.pdf")
