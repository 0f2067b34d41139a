"""The per-document language hint: a document whose pages so far show no Cyrillic reads its next
OCR pages with the Latin-script languages only, and a page that then reads poorly is read again
with every language (no text lost, only time)."""

from __future__ import annotations

import shutil

import pytest

from processor import ConvertOptions, convert
from processor.document import Block, BlockType, Page
from processor.engines.cpu.languages import ScriptTally, latin_subset, reads_poorly, reread_low_lines
from processor.engines.cpu.ocr import OcrWord
from tests.docs import EN_PARAGRAPHS, RU_PARAGRAPHS, make_scan_png, make_scan_tiff
from tests.test_cpu_engine import ned


def test_latin_subset():
    assert latin_subset("rus+eng") == "eng"
    assert latin_subset("eng+ukr+deu") == "eng+deu"
    assert latin_subset("eng") is None  # nothing to drop
    assert latin_subset("rus") is None  # nothing would be left


def _page(text: str) -> Page:
    return Page(number=1, width=100, height=100, unit="pt",
                blocks=[Block(type=BlockType.TEXT, order=0, bbox={"x0": 0, "y0": 0, "x1": 10, "y1": 10}, text=text)])


def test_tally_needs_enough_letters_and_no_cyrillic():
    tally = ScriptTally("rus+eng")
    assert tally.hint() is None  # nothing seen yet
    tally.observe(_page("Short English text."))
    assert tally.hint() is None  # too few letters to go by
    tally.observe(_page(" ".join(EN_PARAGRAPHS) * 2))
    assert tally.hint() == "eng"
    tally.observe(_page("Съешь"))  # a look-alike slip is not a Russian document
    assert tally.hint() == "eng"
    tally.observe(_page(RU_PARAGRAPHS[0]))
    assert tally.hint() is None
    assert ScriptTally("eng").hint() is None


def _words(lines: list[tuple[int, float]]) -> list[OcrWord]:
    """``lines`` of (word count, confidence), words of five letters."""
    return [OcrWord("abcde", (0, 0, 1, 1), conf, 1, 1, i) for i, (n, conf) in enumerate(lines) for _ in range(n)]


def test_reads_poorly():
    assert not reads_poorly(_words([(8, 92)] * 40))
    assert not reads_poorly(_words([(8, 92)] * 40 + [(6, 45)] * 3))  # a few lines: read line by line
    assert reads_poorly(_words([(8, 50)] * 20))  # the whole page
    assert not reads_poorly([])


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_a_russian_paragraph_read_with_english_is_read_again_line_by_line(tmp_path):
    import numpy as np
    from PIL import Image

    from processor.engines.cpu.ocr import run_tesseract

    text = "\n\n".join([EN_PARAGRAPHS[0], RU_PARAGRAPHS[1], EN_PARAGRAPHS[2]])
    gray = np.asarray(Image.open(make_scan_png(tmp_path / "p.png", text=text).path).convert("L"))
    words = run_tesseract(gray, 0.5, "eng", dpi=200)
    assert "Программа" not in " ".join(w.text for w in words)
    fixed = reread_low_lines(gray, words, 0.5, "rus+eng")
    read = " ".join(w.text for w in fixed)
    assert ned(read, " ".join([EN_PARAGRAPHS[0], RU_PARAGRAPHS[1], EN_PARAGRAPHS[2]])) < 0.05, read
    # boxes stay in page units: the Russian words lie where the English reading had its lines
    ru = [w for w in fixed if w.text == "Программа"]
    assert ru and 0 < ru[0].bbox[0] < gray.shape[1] * 0.5 and 0 < ru[0].bbox[1] < gray.shape[0] * 0.5


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_english_pages_read_with_english_and_a_russian_page_after_them_loses_nothing(tmp_path):
    english = "\n\n".join(EN_PARAGRAPHS * 2)  # a page of 500 letters: enough to go by
    russian = "\n\n".join(RU_PARAGRAPHS)
    one_line = "\n\n".join([*EN_PARAGRAPHS, RU_PARAGRAPHS[1], *EN_PARAGRAPHS])  # a Russian paragraph
    gen = make_scan_tiff(tmp_path / "mixed.tiff", pages=[english, english, one_line, russian])
    options = ConvertOptions()
    options.cpu.page_workers = 1  # pages in order, one after the other
    doc = convert(gen.path, options)
    assert [p.raw["ocr_languages"] for p in doc.pages] == ["rus+eng", "eng", "eng", "rus+eng"]
    for page, truth in zip(doc.pages, gen.pages, strict=True):
        text = "\n\n".join(b.text or "" for b in page.reading_order())
        assert ned(text, truth) < 0.05, (page.number, text)
