"""The pages of ``tests.docs_harm`` are of the kind they claim (at most one Tesseract call each)."""

from __future__ import annotations

import subprocess

import pymupdf
import pytest
from rapidfuzz.distance import Levenshtein

from tests.docs_harm import (
    make_broken_tounicode_code_pdf,
    make_index_scan,
    make_russian_list_scan,
    make_wide_table_scan,
)


def _ned(a: str, b: str) -> float:
    return Levenshtein.normalized_distance(" ".join(a.split()), " ".join(b.split()))


def _image_only(path) -> None:
    with pymupdf.open(path) as doc:
        page = doc[0]
        assert len(doc) == 1
        assert page.get_text().strip() == ""
        (info,) = page.get_image_info()
        box = pymupdf.Rect(info["bbox"])
        assert abs(box.width * box.height - page.rect.width * page.rect.height) < 0.01 * page.rect.width * page.rect.height


@pytest.mark.parametrize("language", ["en", "ru"])
def test_index_scan_is_an_image_only_two_column_index(tmp_path, language):
    doc = make_index_scan(tmp_path / "index.pdf", language=language, seed=3)
    _image_only(doc.path)
    lines = doc.text.splitlines()
    assert 80 <= len(lines) <= 100 and any(h in lines for h in doc.headings)  # two columns of up to 50
    assert sum(ln[-1].isdigit() for ln in lines) > 50  # entries end in page numbers
    assert make_index_scan(tmp_path / "again.pdf", language=language, seed=3).text == doc.text
    assert make_index_scan(tmp_path / "other.pdf", language=language, seed=4).text != doc.text
    if language == "ru":
        assert any("а" <= ch <= "я" for ch in doc.text)


@pytest.mark.parametrize("numbers", ["right", "leaders"])
def test_index_scan_numbers_flush_right_say_the_same(tmp_path, numbers):
    inline = make_index_scan(tmp_path / "inline.pdf", seed=2)
    flush = make_index_scan(tmp_path / "flush.pdf", seed=2, numbers=numbers)
    _image_only(flush.path)
    assert flush.text.replace(",", "") == inline.text.replace(",", "")  # same entries, no comma before the numbers


@pytest.mark.parametrize("ruled", [True, False])
def test_wide_table_scan_has_five_columns_and_wrapped_descriptions(tmp_path, ruled):
    doc = make_wide_table_scan(tmp_path / "table.pdf", ruled=ruled, seed=1)
    _image_only(doc.path)
    assert all(len(row) == 5 for row in doc.table_cells)
    assert 20 <= len(doc.table_cells) - 1 <= 30
    assert min(len(row[2]) for row in doc.table_cells[1:]) > 70  # two lines at least in its cell


def test_broken_tounicode_code_pdf_says_other_letters_than_it_shows(tmp_path):
    doc = make_broken_tounicode_code_pdf(tmp_path / "code.pdf", seed=2)
    with pymupdf.open(doc.path) as pdf:
        page = pdf[0]
        layer = page.get_text()
        page.get_pixmap(dpi=300).save(tmp_path / "code.png")
    heading, _para, code = doc.text.split("\n\n", 2)
    assert heading in layer  # the normal font is sound
    garbled = layer[layer.index("sudo.") + 5:]
    assert _ned(garbled, code) > 0.4
    assert sum(ch.isalpha() and ch.isascii() for ch in garbled) > 0.5 * sum(ch.isalpha() for ch in code)
    ocr = subprocess.run(["tesseract", str(tmp_path / "code.png"), "-", "-l", "rus+eng", "--psm", "3"],
                         capture_output=True, text=True, check=True).stdout
    assert _ned(ocr, doc.text) < 0.1


def test_broken_tounicode_variants(tmp_path):
    cyr = make_broken_tounicode_code_pdf(tmp_path / "cyr.pdf", cyrillic=True)
    none = make_broken_tounicode_code_pdf(tmp_path / "none.pdf", tounicode="none")
    with pymupdf.open(cyr.path) as a, pymupdf.open(none.path) as b:
        assert sum("а" <= ch.lower() <= "я" for ch in a[0].get_text()) > 400  # the code reads as Cyrillic
        assert "def " not in b[0].get_text() and "def " in none.text


def test_russian_list_scan(tmp_path):
    doc = make_russian_list_scan(tmp_path / "list.png", seed=5)
    assert doc.path.suffix == ".png" and 4 <= len(doc.list_items) <= 7
    assert all(item in doc.text for item in doc.list_items[:-1])
    pdf = make_russian_list_scan(tmp_path / "list.pdf", seed=5)
    _image_only(pdf.path)
    assert pdf.text == doc.text
