"""The CPU engine end to end on generated documents (tests/docs.py): text layer, OCR,
structure, parallel pages, blank pages, per-page failures.

Needs tesseract with rus+eng (apt: tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng) and
DejaVu fonts (apt: fonts-dejavu-core).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator

import pymupdf
import pytest
from rapidfuzz.distance import Levenshtein

from processor import ConvertOptions, convert, render_markdown
from processor.document import BlockType, Document, PageMethod, PageStatus, PageUnit
from processor.engines.cpu import page as cpu_page
from processor.engines.cpu import CpuEngine
from processor.text_layer import judge_text_layer
from tests.docs_hard import make_broken_font_pdf
from tests.docs import (
    make_blank_pdf,
    make_figure_pdf,
    make_multipage_pdf,
    make_scan_png,
    make_scan_tiff,
    make_scanned_pdf,
    make_structured_pdf,
    make_text_pdf,
    scan_of,
)

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


def norm(text: str) -> str:
    """Compare words, not Markdown: drop markup, bullets and the page-break comments."""
    text = re.sub(r"<!--.*?-->", " ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"^\s*(#+|[-*•]|\d+\.)\s+", "", text, flags=re.MULTILINE)
    text = text.replace("•", " ").replace("«", '"').replace("»", '"')
    return " ".join(text.split())


def ned(a: str, b: str) -> float:
    a, b = norm(a), norm(b)
    return Levenshtein.distance(a, b) / max(1, len(a), len(b))


@pytest.fixture(scope="module")
def options() -> ConvertOptions:
    opts = ConvertOptions()
    opts.cpu.page_workers = 2
    return opts


@pytest.fixture(scope="module")
def engine(options: ConvertOptions) -> Iterator[CpuEngine]:
    eng = CpuEngine(options)
    eng.load()
    yield eng
    eng.close()


def run(path, options: ConvertOptions, engine: CpuEngine) -> tuple[Document, str]:
    doc = convert(path, options, engine=engine)
    return doc, render_markdown(doc)


def page_markdown(md: str) -> list[str]:
    """Markdown split at the page-break comments, one string per page."""
    return [p for p in re.split(r"<!-- page \d+ -->", md)[1:]]


def test_text_pdf_round_trip(tmp_path, options, engine):
    gen = make_text_pdf(tmp_path / "t.pdf", ["Первая страница. Привет, мир!\n\nSecond paragraph, English.",
                                             "Вторая страница: ещё немного текста."])
    doc, md = run(gen.path, options, engine)
    assert [p.method for p in doc.pages] == [PageMethod.TEXT_LAYER] * 2
    for got, want in zip(page_markdown(md), gen.pages, strict=True):
        assert ned(got, want) < 0.05, got
    assert doc.engine.name == "cpu" and "tesseract" in doc.engine.version


def test_structure_headings_lists_table_columns_furniture(tmp_path, options, engine):
    gen = make_structured_pdf(tmp_path / "s.pdf")
    doc, md = run(gen.path, options, engine)
    p1 = doc.pages[0]
    by_type = {t: [b for b in p1.blocks if b.type is t] for t in BlockType}
    assert [b.text for b in by_type[BlockType.TITLE]] == [gen.headings[0]]
    assert [b.text for b in by_type[BlockType.HEADING]] == gen.headings[1:4]
    assert all(b.level for b in by_type[BlockType.HEADING])
    assert [b.text for b in by_type[BlockType.LIST_ITEM]] == [f"- {i}" for i in gen.list_items]
    (table,) = by_type[BlockType.TABLE]
    for row in gen.table_cells:
        for cell in row:
            assert f">{cell}</t" in table.html
    assert table.html.count("<tr>") == len(gen.table_cells)
    # Markdown: title, heading levels, list, table, in reading order
    assert f"# {gen.headings[0]}\n" in md
    assert f"- {gen.list_items[1]}\n" in md
    assert "<table>" in md and "<th>Формат</th>" in md
    order = [md.index(x) for x in (gen.headings[0], gen.headings[1], gen.list_items[0], "<table>", gen.headings[3])]
    assert order == sorted(order)
    # two columns: the left column is read before the right one, both before the last paragraph
    left, right = md.index("Распознавание текста выполняется"), md.index("Document conversion keeps")
    assert left < right < md.index("Программа преобразует документы")
    # running header and page numbers: typed, out of the reading order, not in the Markdown
    for page in doc.pages:
        furniture = [b for b in page.blocks if b.type.is_furniture]
        assert {b.type for b in furniture} == {BlockType.HEADER, BlockType.PAGE_NUMBER}
        assert all(b.order is None for b in furniture)
    assert gen.furniture[0] not in md
    assert not re.search(r"^\s*[12]\s*$", md, flags=re.MULTILINE)
    assert ned(md, gen.text) < 0.1


def test_rotated_pdf_page_keeps_structure(tmp_path, options, engine):
    """A /Rotate 90 page: laid out in its own text direction, boxes in the shown page's space."""
    gen = make_structured_pdf(tmp_path / "s.pdf")
    with pymupdf.open(gen.path) as pdf:
        for page in pdf:
            page.set_rotation(90)
        pdf.save(tmp_path / "r.pdf")
    doc, md = run(tmp_path / "r.pdf", options, engine)
    page = doc.pages[0]
    assert page.width > page.height
    assert all(0 <= b.bbox.x0 <= b.bbox.x1 <= page.width + 1 for b in page.blocks)
    assert all(0 <= b.bbox.y0 <= b.bbox.y1 <= page.height + 1 for b in page.blocks)
    assert md.index(gen.headings[0]) < md.index(gen.list_items[0]) < md.index("<table>") < md.index(gen.headings[3])
    assert "<th>Формат</th>" in md and gen.furniture[0] not in md


def test_multipage_all_pages_distinct_in_order(tmp_path, options, engine):
    gen = make_multipage_pdf(tmp_path / "m.pdf", n=7)
    doc, md = run(gen.path, options, engine)
    assert [p.number for p in doc.pages] == list(range(1, 8))
    pages = page_markdown(md)
    assert len(pages) == 7 and len(set(pages)) == 7
    for i, (got, want) in enumerate(zip(pages, gen.pages, strict=True), start=1):
        assert f"Страница номер {i}:" in got and f"Page {i} says" in got
        assert ned(got, want) < 0.05


def test_russian_scan_png_is_ocred(tmp_path, options, engine):
    gen = make_scan_png(tmp_path / "scan.png")
    doc, md = run(gen.path, options, engine)
    (page,) = doc.pages
    assert page.method is PageMethod.OCR and page.unit is PageUnit.PIXEL
    assert ned(md, gen.text) < 0.05, md
    assert "Съешь же ещё этих мягких французских булок" in md
    assert all(b.bbox.x1 <= page.width + 1 and b.bbox.y1 <= page.height + 1 for b in page.blocks)


def test_sideways_scan_is_turned_upright(tmp_path, options, engine):
    gen = make_scan_png(tmp_path / "sideways.png", quarter_turns=1)
    doc, md = run(gen.path, options, engine)
    (page,) = doc.pages
    assert page.width > page.height  # the image is landscape, its text runs bottom to top
    assert ned(md, gen.text) < 0.08, md
    assert all(0 <= b.bbox.x0 <= b.bbox.x1 <= page.width + 1 for b in page.blocks)
    assert all(0 <= b.bbox.y0 <= b.bbox.y1 <= page.height + 1 for b in page.blocks)


def test_multipage_tiff(tmp_path, options, engine):
    gen = make_scan_tiff(tmp_path / "scan.tiff")
    doc, md = run(gen.path, options, engine)
    assert [p.method for p in doc.pages] == [PageMethod.OCR, PageMethod.OCR]
    for got, want in zip(page_markdown(md), gen.pages, strict=True):
        assert ned(got, want) < 0.08, got


def test_scan_with_a_text_stamp_goes_to_ocr(tmp_path, options, engine):
    gen = make_scanned_pdf(tmp_path / "stamped.pdf", stamp="Scanned by docwatch test rig, page 1 of 1, batch 0042")
    doc, md = run(gen.path, options, engine)
    assert doc.pages[0].method is PageMethod.OCR
    assert ned(md, gen.text) < 0.1, md


def test_judge_text_layer_refuses_garbage(tmp_path):
    gen = make_text_pdf(tmp_path / "j.pdf", ["Обычный текст страницы. " * 8])
    with pymupdf.open(gen.path) as pdf:
        page = pdf[0]
        assert judge_text_layer(page, page.get_text()).usable
        assert not judge_text_layer(page, "").usable
    broken = make_broken_font_pdf(tmp_path / "b.pdf", broken=("Book", "Bold"))
    with pymupdf.open(broken.path) as pdf:
        page = pdf[0]
        verdict = judge_text_layer(page, page.get_text())
        assert not verdict.usable and "garbage" in verdict.reason


def test_blank_pages_are_blank_and_fast(tmp_path, options, engine):
    gen = make_blank_pdf(tmp_path / "blank.pdf", 1000)
    t0 = time.perf_counter()
    doc, md = run(gen.path, options, engine)
    elapsed = time.perf_counter() - t0
    assert len(doc.pages) == 1000
    assert all(p.method is PageMethod.BLANK and not p.blocks for p in doc.pages)
    assert elapsed < 30, f"1000 blank pages took {elapsed:.1f}s"
    assert md.count("<!-- page") == 1000


def test_a_noisy_empty_scan_is_blank(tmp_path, options, engine):
    gen = make_scan_png(tmp_path / "empty.png", text=" ", noise=10)
    doc, md = run(gen.path, options, engine)
    assert doc.pages[0].method is PageMethod.BLANK and not doc.pages[0].blocks
    assert md.strip() == "<!-- page 1 -->"


def test_figure_is_cropped_to_an_asset(tmp_path, options, engine):
    gen = make_figure_pdf(tmp_path / "fig.pdf")
    doc, md = run(gen.path, options, engine)
    figures = [b for b in doc.pages[0].blocks if b.type is BlockType.FIGURE]
    assert len(figures) == 1 and figures[0].image.path == "images/p1_1.png"
    (asset,) = doc.assets
    assert asset.path == "images/p1_1.png" and asset.data.startswith(b"\x89PNG")
    assert "![figure](images/p1_1.png)" in md
    assert md.index("Программа преобразует") < md.index("![figure]") < md.index("A scanned page")


def test_picture_on_a_scan_becomes_a_figure(tmp_path, options, engine):
    gen = scan_of(make_figure_pdf(tmp_path / "fig.pdf"), tmp_path / "fig.png")
    doc, md = run(gen.path, options, engine)
    page = doc.pages[0]
    assert page.method is PageMethod.OCR
    (figure,) = [b for b in page.blocks if b.type is BlockType.FIGURE]
    assert figure.bbox.width > page.width * 0.3 and figure.image.path == "images/p1_1.png"
    assert [a.path for a in doc.assets] == ["images/p1_1.png"]
    # (rus+eng Tesseract may read an English word in Cyrillic look-alikes: compare loosely)
    assert md.index("Программа преобразует") < md.index("![figure]") < md.index("scanned")
    assert ned(md, gen.text) < 0.05


def test_a_failing_page_does_not_fail_the_document(tmp_path, monkeypatch):
    """One worker runs pages in this process, so the page converter can be sabotaged here."""
    gen = make_multipage_pdf(tmp_path / "m.pdf", n=3)
    real = cpu_page.convert_page

    def flaky(page, task):
        if task.index == 1:
            raise ValueError("synthetic failure on page 2")
        return real(page, task)

    monkeypatch.setattr(cpu_page, "convert_page", flaky)
    opts = ConvertOptions()
    opts.cpu.page_workers = 1
    doc = convert(gen.path, opts)
    assert [p.status for p in doc.pages] == [PageStatus.OK, PageStatus.FAILED, PageStatus.OK]
    assert doc.pages[1].error.type == "ValueError" and "synthetic" in doc.pages[1].error.message
    assert doc.ok
    md = render_markdown(doc)
    assert "<!-- page 2 failed: synthetic failure on page 2 -->" in md
    assert "Страница номер 1:" in md and "Страница номер 3:" in md


def test_pages_stream_in_order_with_a_bounded_window(tmp_path, options, engine, monkeypatch):
    gen = make_multipage_pdf(tmp_path / "m.pdf", n=12)
    submitted: list[int] = []
    real_submit = engine._submit

    def spy(sha, path, fmt, task):
        submitted.append(task.index)
        return real_submit(sha, path, fmt, task)

    monkeypatch.setattr(engine, "_submit", spy)
    from processor.source import open_source

    with open_source(gen.path, options) as source:
        it = engine.pages(source)
        first = next(it)
        assert first.page.number == 1
        assert len(submitted) <= 2 * 2  # workers x window per worker, not all 12 pages
        rest = [r.page.number for r in it]
    assert rest == list(range(2, 13))


def _die(*_args) -> None:
    """Runs in a worker process: a native crash, as far as the pool can tell."""
    import os

    os._exit(3)


def test_a_crashing_worker_fails_only_its_page(tmp_path, monkeypatch):
    gen = make_multipage_pdf(tmp_path / "m.pdf", n=5)
    opts = ConvertOptions()
    opts.cpu.page_workers = 2
    eng = CpuEngine(opts)
    eng.load()
    real_submit = eng._submit

    def submit(sha, path, fmt, task):
        if task.index == 2:
            return eng._pool.submit(_die, sha, path, fmt, task), eng._generation
        return real_submit(sha, path, fmt, task)

    monkeypatch.setattr(eng, "_submit", submit)
    try:
        doc = convert(gen.path, opts, engine=eng)
    finally:
        eng.close()
    assert [p.status for p in doc.pages] == [PageStatus.OK] * 2 + [PageStatus.FAILED] + [PageStatus.OK] * 2
    assert doc.pages[2].error.type == "WorkerCrashed"
    md = render_markdown(doc)
    assert all(f"Страница номер {i}:" in md for i in (1, 2, 4, 5))
