"""Text-layer hybrid (DOCWATCH_PADDLE__TEXT_FROM_PDF=auto): on born-digital pages the PDF's characters
replace the VL model's in text-like blocks; on scans, broken text layers and OCR overlays the VL text
stays. The VL model is the stub server answering with typical VL slips: Latin look-alikes inside
Cyrillic words, dropped diacritics, lines run together."""

from __future__ import annotations

import importlib.util
import unicodedata

import pymupdf
import pytest

from processor import ConvertOptions, EngineName, convert, render_markdown
from processor.engines.paddle.blocks import RawBlock
from processor.engines.paddle.pdf_text import apply, read_page, words_in_box
from processor.engines.paddle.models import prepare_environment
from processor.options import PaddleEngineOptions
from tests.paddle_docs import dejavu_font, make_png
from tests.vl_stub_server import StubVLServer, tesseract_text

RU = ["Отчёт о проверке: объём работ", "Ёлка, съезд и всё прочее верно.", "Первая страница содержит текст."]
EN = ["Résumé of the naïve café study", "The second page is in English.", "Results are final and signed."]
_LOOKALIKES = str.maketrans("аеорсхуАЕОРСХВМТНК", "aeopcxyAEOPCXBMTHK")


def slip(text: str) -> str:
    """What a VL model gets wrong on a clean page."""
    text = text.translate(_LOOKALIKES)  # Latin look-alikes in Cyrillic words
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))  # ё -> е, é -> e
    return unicodedata.normalize("NFC", " ".join(text.split("\n")))  # lines run together


class SlippingVLServer(StubVLServer):
    def answer(self, image: bytes | None, prompt: str) -> str:
        return slip(tesseract_text(image or b"", self.languages)) if image else ""


def born_digital(pages: list[list[str]]) -> bytes:
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=420, height=300)
        page.insert_font(fontname="dv", fontfile=str(dejavu_font()))
        for i, line in enumerate(lines):
            page.insert_text((30, 50 + 36 * i), line, fontname="dv", fontsize=16)
    data = doc.tobytes()
    doc.close()
    return data


def without_tounicode(pdf: bytes) -> bytes:
    """The same PDF with its fonts' ToUnicode maps removed: the text layer turns to glyph ids."""
    doc = pymupdf.open(stream=pdf)
    for xref in range(1, doc.xref_length()):
        if "/ToUnicode" in doc.xref_object(xref):
            doc.xref_set_key(xref, "ToUnicode", "null")
    data = doc.tobytes(garbage=3)
    doc.close()
    return data


def scanned(pages: list[list[str]]) -> bytes:
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=420, height=300)
        page.insert_image(page.rect, stream=make_png(lines, width=1260, height=900, fontsize=46))
    data = doc.tobytes()
    doc.close()
    return data


needs_paddle = pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed")


@pytest.fixture(scope="module")
def vl(tmp_path_factory):
    prepare_environment(tmp_path_factory.mktemp("pdx-cache"))
    with SlippingVLServer() as stub:
        yield stub


def run(stub: StubVLServer, pdf: bytes, **paddle):
    options = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(
        use_layout_detection=False, vl_rec_backend="vllm-server", vl_rec_server_url=stub.base_url, device="cpu",
        **paddle))  # fmt: skip
    stub.requests.clear()
    doc = convert(pdf, options, name="doc.pdf")
    return doc, [r["answer"] for r in stub.requests]


@pytest.mark.paddle
@needs_paddle
def test_born_digital_russian_and_english_pages_read_as_the_text_layer(vl):
    doc, answers = run(vl, born_digital([RU, EN]))
    for page, lines, answer in zip(doc.pages, [RU, EN], answers, strict=True):
        (block,) = page.blocks
        assert block.text == "\n".join(lines)  # the author's characters, line by line
        assert answer != block.text and "\n" not in answer  # the VL model did slip
        assert page.text_layer.used and page.text_layer.blocks == 1 and page.text_layer.reason == "text layer"
    assert doc.engine.options["text_from_pdf"] == "auto"
    md = render_markdown(doc)
    assert "Отчёт о проверке: объём работ" in md and "Résumé of the naïve café study" in md


@pytest.mark.paddle
@needs_paddle
def test_scans_broken_text_layers_and_off_keep_the_vl_text(vl):
    cases = {
        "scan": (scanned([RU]), {}, "no text layer"),
        "no ToUnicode": (without_tounicode(born_digital([EN])), {}, "garbage text layer"),
        "off": (born_digital([RU]), {"text_from_pdf": "off"}, None),
    }
    for name, (pdf, paddle, reason) in cases.items():
        doc, (answer,) = run(vl, pdf, **paddle)
        (page,) = doc.pages
        assert page.blocks[0].text == answer, name
        if reason is None:
            assert page.text_layer is None, name
        else:
            assert not page.text_layer.used and page.text_layer.reason.startswith(reason), (name, page.text_layer)


def _page_with_blocks() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=420, height=300)
    page.insert_font(fontname="dv", fontfile=str(dejavu_font()))
    page.insert_text((30, 40), "Глава 1. Введение", fontname="dv", fontsize=16)
    page.insert_text((30, 80), "Первая строка абзаца,", fontname="dv", fontsize=11)
    page.insert_text((30, 95), "вторая строка —", fontname="dv", fontsize=11)
    page.insert_text((136, 95), "с ё.", fontname="dv", fontsize=11)
    page.insert_text((30, 150), "Cell A   Cell B", fontname="dv", fontsize=11)
    page.insert_image(pymupdf.Rect(250, 60, 400, 130), stream=make_png(["Подпись"], width=300, height=140))
    data = doc.tobytes()
    doc.close()
    return data


def test_layout_kept_text_blocks_take_the_pdf_characters_tables_and_pictures_do_not():
    doc = pymupdf.open(stream=_page_with_blocks())
    px = 2.0  # the pipeline saw the page at 144 dpi: pixels = points * 2
    raws = [
        RawBlock("paragraph_title", "## Глaва 1. Введeние", (25 * px, 25 * px, 300 * px, 45 * px), 0),
        RawBlock("text", "Пepвая строка абзаца, вторая строка — с е.", (25 * px, 68 * px, 240 * px, 100 * px), 1),
        RawBlock("table", "<table><tr><td>Cell A</td><td>Cell B</td></tr></table>", (25 * px, 138 * px, 200 * px,
                 156 * px), 2),  # fmt: skip
        RawBlock("text", "Подпись", (250 * px, 60 * px, 400 * px, 130 * px), 3),  # text inside a picture
        RawBlock("display_formula", "$$x^2$$", (25 * px, 200 * px, 200 * px, 220 * px), 4),
    ]
    layer = read_page(doc[0], raws, (1 / px, 1 / px))
    use = apply(raws, layer)
    assert use.used and use.blocks == 2
    assert raws[0].content == "Глава 1. Введение"
    assert raws[1].content == "Первая строка абзаца,\nвторая строка — с ё."
    assert raws[2].content.startswith("<table>") and raws[3].content == "Подпись" and raws[4].content == "$$x^2$$"


def test_an_invisible_ocr_layer_over_a_scan_is_not_used():
    doc = pymupdf.open(stream=scanned([RU]))
    page = doc[0]
    page.insert_font(fontname="dv", fontfile=str(dejavu_font()))
    for i, line in enumerate(RU * 4):  # a full OCR layer, drawn invisibly as OCR tools do
        page.insert_text((30, 40 + 16 * i), line, fontname="dv", fontsize=11, render_mode=3)
    raws = [RawBlock("ocr", slip("\n".join(RU)), (0, 0, 840, 600), 0)]
    use = apply(raws, read_page(page, raws, (0.5, 0.5)))
    assert not use.used and "invisible" in use.reason and raws[0].content == slip("\n".join(RU))


def test_a_line_the_pdf_wrote_in_pieces_is_one_line():
    # (x0, y0, x1, y1, word, block_no, line_no, word_no): PyMuPDF put the pieces in two blocks
    words = [(80, 100, 110, 112, "world", 7, 0, 0), (10, 100, 40, 112, "Hello", 3, 0, 0),
             (10, 118, 40, 130, "next", 3, 1, 0), (45, 101, 75, 111, "there,", 5, 0, 0),
             (500, 100, 540, 112, "outside", 9, 0, 0)]  # fmt: skip
    assert words_in_box(words, (0, 90, 200, 140)) == "Hello there, world\nnext"
