"""Generated pages that are hard in one known way each: a font with a broken Unicode map,
code listings, labelled diagrams, low-contrast text, mixed scripts, frames around text.

Like ``tests.docs``, every ``make_*`` writes a real file and returns a ``GeneratedDoc`` with
the text a reader sees on the page.
"""

from __future__ import annotations

from pathlib import Path

import pymupdf

from tests.docs import EN_PARAGRAPHS, RU_PARAGRAPHS, GeneratedDoc, _flow, _Writer, font_path, make_text_pdf

__all__ = [
    "make_backwards_cell_pdf",
    "make_booktabs_pdf",
    "make_broken_font_pdf",
    "make_continued_table_pdf",
    "make_framed_sheet_pdf",
    "make_ocr_layered_scan_pdf",
    "make_mixed_content_pdf",
    "make_shaded_table_pdf",
    "make_turned_content_pdf",
]


def make_broken_font_pdf(path: Path, broken: tuple[str, ...] = ("Bold",)) -> GeneratedDoc:
    """Three paragraphs, the middle one in bold; the /ToUnicode map of every font whose name
    contains one of ``broken`` is removed, so its text layer reads as glyph ids (as a real
    PDF whose fonts lost their Unicode maps does) while the page looks the same."""
    doc = pymupdf.open()
    w = _Writer(doc)
    paras = [RU_PARAGRAPHS[0], RU_PARAGRAPHS[1], EN_PARAGRAPHS[1]]
    y = _flow(w, 72, paras[0])
    y = _flow(w, y, paras[1], bold=True)
    _flow(w, y, paras[2])
    for xref, *_, basefont, _name, _enc, _ref in w.page.get_fonts(full=True):
        if any(b in basefont for b in broken):
            doc.xref_set_key(xref, "ToUnicode", "null")
    doc.save(path)
    doc.close()
    text = "\n\n".join(paras)
    return GeneratedDoc(path=Path(path), text=text, pages=[text])


BOOKTABS_ROWS = [
    ("width", "масштабирует графику до ширины"),
    ("height", "масштабирует графику до высоты"),
    ("angle", "поворачивает графику на угол"),
    ("scale", "scales the picture"),
]


def make_booktabs_pdf(path: Path) -> GeneratedDoc:
    """A paragraph, then a two-column table set between a rule above and a rule below with no
    rules between its rows or columns, then another paragraph (scan it with ``scan_of``)."""
    doc = pymupdf.open()
    w = _Writer(doc)
    y = _flow(w, 72, RU_PARAGRAPHS[1])
    w.line((100, y), (480, y))
    y += 8
    for key, text in BOOKTABS_ROWS:
        w.box((110, y, 200, y + 20), key, size=11)
        w.box((230, y, 480, y + 20), text, size=11)
        y += 20
    w.line((100, y + 4), (480, y + 4))
    _flow(w, y + 30, EN_PARAGRAPHS[1])
    doc.save(path)
    doc.close()
    rows = "\n".join(f"{k} {t}" for k, t in BOOKTABS_ROWS)
    text = f"{RU_PARAGRAPHS[1]}\n\n{rows}\n\n{EN_PARAGRAPHS[1]}"
    return GeneratedDoc(path=Path(path), text=text, pages=[text], table_cells=[list(r) for r in BOOKTABS_ROWS])


def make_turned_content_pdf(source: GeneratedDoc, path: Path) -> GeneratedDoc:
    """The first page of ``source`` drawn a quarter turn round onto a page of swapped size,
    with /Rotate set so that viewers show it upright again (as slide decks exported in
    portrait are): its text runs top to bottom in the page's own space."""
    with pymupdf.open(source.path) as src, pymupdf.open() as doc:
        r = src[0].rect
        page = doc.new_page(width=r.height, height=r.width)
        page.show_pdf_page(page.rect, src, 0, rotate=-90)
        page.set_rotation(90)
        doc.save(path)
    return GeneratedDoc(path=Path(path), text=source.pages[0], pages=[source.pages[0]],
                        headings=source.headings, table_cells=source.table_cells)


SHADED_ROWS = [
    ["Region", "Sales", "Growth", "Stock", "Rating"],
    ["North", "1200", "rising", "full", "good"],
    ["South", "860", "falling", "low", "weak"],
    ["East", "430", "steady", "full", "fair"],
    ["West", "975", "rising", "empty", "good"],
    ["Centre", "310", "falling", "low", "poor"],
    ["Coast", "655", "steady", "full", "fair"],
]


def make_shaded_table_pdf(path: Path) -> GeneratedDoc:
    """A paragraph and a table whose rows are bands alternating dark grey with white letters
    and light grey with black letters, no rules (as slide decks and reports shade them)."""
    doc = pymupdf.open()
    w = _Writer(doc)
    y = _flow(w, 72, EN_PARAGRAPHS[0])
    xs = [60, 160, 250, 350, 440, 535]
    for r, row in enumerate(SHADED_ROWS):
        dark = r % 2 == 0
        band = pymupdf.Rect(xs[0], y, xs[-1], y + 24)
        w.page.draw_rect(band, color=None, fill=(0.3, 0.3, 0.3) if dark else (0.78, 0.78, 0.78))
        for c, text in enumerate(row):
            w.page.insert_text((xs[c] + 8, y + 16), f"• {text}", fontname="dv", fontsize=11,
                               color=(0.85, 0.85, 0.85) if dark else (0.1, 0.1, 0.1))
        y += 24
    doc.save(path)
    doc.close()
    rows = "\n".join(" ".join(r) for r in SHADED_ROWS)
    text = f"{EN_PARAGRAPHS[0]}\n\n{rows}"
    return GeneratedDoc(path=Path(path), text=text, pages=[text], table_cells=SHADED_ROWS)


def make_framed_sheet_pdf(path: Path) -> GeneratedDoc:
    """A drawing-office sheet (ESKD style): a ruled frame round the whole page with a small
    title block ruled into cells at its foot, a numbered section heading set large at the
    very top inside the frame, and paragraphs of body text."""
    doc = pymupdf.open()
    w = _Writer(doc)
    heading = "2 ОСНОВНЫЕ ПРИНЦИПЫ"
    x0, y0, x1, y1 = 40.0, 14.0, 575.0, 828.0
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        w.line(a, b)
    stamp_top = y1 - 40
    w.line((x0, stamp_top), (x1, stamp_top))
    w.line((x0, stamp_top + 20), (300, stamp_top + 20))
    for x in (90, 150, 220, 300):
        w.line((x, stamp_top), (x, y1))
    for x, t in ((44, "Изм."), (94, "Лист"), (154, "Докум."), (224, "Подп.")):
        w.box((x, stamp_top + 24, x + 50, y1), t, size=7)
    w.box((520, stamp_top + 14, 570, y1), "5", size=9)
    y = _flow(w, 26, heading, size=16, bold=True)
    for para in RU_PARAGRAPHS[:3]:
        y = _flow(w, y, para)
    doc.save(path)
    doc.close()
    text = "\n\n".join([heading, *RU_PARAGRAPHS[:3]])
    return GeneratedDoc(path=Path(path), text=text, pages=[text], headings=[heading])


def make_backwards_cell_pdf(path: Path) -> GeneratedDoc:
    """A ruled 2 x 2 table where one cell's two words are written right one first (content
    stream order is not reading order: generators emit text in any order)."""
    doc = pymupdf.open()
    w = _Writer(doc)
    xs, ys = [60, 300, 535], [100, 130, 160]
    for y in ys:
        w.line((xs[0], y), (xs[-1], y))
    for x in xs:
        w.line((x, ys[0]), (x, ys[-1]))
    w.page.insert_text((65, 120), "Option", fontname="dv", fontsize=11)
    w.page.insert_text((305, 120), "Meaning", fontname="dv", fontsize=11)
    w.page.insert_text((140, 150), "columnvii", fontname="dv", fontsize=11)  # right word first
    w.page.insert_text((65, 150), "nostitching", fontname="dv", fontsize=11)
    w.page.insert_text((305, 150), "switches the column off", fontname="dv", fontsize=11)
    doc.save(path)
    doc.close()
    text = "Option Meaning\nnostitching columnvii switches the column off"
    return GeneratedDoc(path=Path(path), text=text, pages=[text])


CODE_LINES = ['$ dpkg-buildpackage -us -uc', 'export DEBEMAIL="bob@example.com"', 'make install DESTDIR=/tmp/pkg']
DIAGRAM_LABELS = ["Find Problem", "Get Code", "Test Fix"]
MIXED = "Пакет debhelper вызывает dh_auto_build, затем dh_install копирует файлы в debian/tmp."
FAINT = "This paragraph is printed in light grey, as faint scans and footnotes often are."


def make_mixed_content_pdf(path: Path) -> GeneratedDoc:
    """Everything a page must not lose in one: Russian prose with Latin identifiers, a code
    listing in a monospaced font inside a frame, a diagram of shaded boxes with labels and
    arrows, and a paragraph in light grey."""
    mono = font_path().with_name("DejaVuSansMono.ttf")
    doc = pymupdf.open()
    w = _Writer(doc)
    w.page.insert_font(fontname="dvm", fontfile=str(mono))
    y = _flow(w, 72, MIXED)
    w.page.draw_rect(pymupdf.Rect(60, y, 535, y + 16 * len(CODE_LINES) + 10), color=(0, 0, 0), width=0.6)
    for i, line in enumerate(CODE_LINES):
        w.page.insert_text((68, y + 18 + 16 * i), line, fontname="dvm", fontsize=10)
    y += 16 * len(CODE_LINES) + 40
    for i, label in enumerate(DIAGRAM_LABELS):
        box = pymupdf.Rect(70 + 160 * i, y, 190 + 160 * i, y + 60)
        w.page.draw_rect(box, color=(0, 0, 0), fill=(0.85, 0.85, 0.85), width=1.2)
        w.page.insert_text((box.x0 + 14, box.y0 + 35), label, fontname="dvb", fontsize=12)
        if i:
            w.page.draw_line(pymupdf.Point(box.x0 - 40, box.y0 + 30), pymupdf.Point(box.x0, box.y0 + 30), width=2)
    y += 100
    w.page.insert_textbox(pymupdf.Rect(60, y, 535, y + 60), FAINT, fontname="dv", fontsize=11,
                          color=(0.62, 0.62, 0.62), lineheight=1.3)
    doc.save(path)
    doc.close()
    text = "\n\n".join([MIXED, "\n".join(CODE_LINES), " ".join(DIAGRAM_LABELS), FAINT])
    return GeneratedDoc(path=Path(path), text=text, pages=[text])


def _ruled_rows(w: _Writer, y: float, rows: list[tuple[str, str]]) -> float:
    xs = [60, 200, 535]
    w.line((xs[0], y), (xs[-1], y))
    for key, text in rows:
        w.box((xs[0] + 5, y + 4, xs[1] - 5, y + 22), key, size=10)
        w.box((xs[1] + 5, y + 4, xs[2] - 5, y + 22), text, size=10)
        y += 22
        w.line((xs[0], y), (xs[-1], y))
    for x in xs:
        w.line((x, y - 22 * len(rows)), (x, y))
    return y


CONTINUED_ROWS = [[("russian", "выбирает язык документа"), ("koi8-r", "задает кодировку текста")],
                  [("emptystyle", "включает пустой стиль страниц"), ("simple", "тоже самое что nocolumnsxix")],
                  [("linethick", "толщина сплошной толстой линии"), ("linethin", "толщина тонкой линии")]]


def make_continued_table_pdf(path: Path) -> GeneratedDoc:
    """Three pages under one running head with a ruled table that runs on from page to page;
    pages 2 and 3 open with the caption "Продолжение таблицы 1" at the very top, where a
    running head would stand (ГОСТ 2.105 asks for it on every page a table continues to)."""
    doc = pymupdf.open()
    head = "Руководство по классам eskdx"
    pages = []
    for i, rows in enumerate(CONTINUED_ROWS):
        w = _Writer(doc)
        w.box((60, 20, 535, 34), head, size=8)
        w.box((290, 800, 310, 815), str(i + 1), size=8)
        parts = []
        if i == 0:
            y = _flow(w, 60, RU_PARAGRAPHS[1])
            y = _flow(w, y, "Таблица 1 – Общие опции классов")
            parts += [RU_PARAGRAPHS[1], "Таблица 1 – Общие опции классов"]
        else:
            y = _flow(w, 46, "Продолжение таблицы 1")
            parts.append("Продолжение таблицы 1")
        _ruled_rows(w, y, rows)
        parts += [f"{k} {t}" for k, t in rows]
        pages.append("\n\n".join(parts))
    doc.save(path)
    doc.close()
    return GeneratedDoc(path=Path(path), text="\n\n".join(pages), pages=pages, furniture=[head, "1", "2", "3"])


def make_ocr_layered_scan_pdf(path: Path, wrong: bool, under: bool = False) -> GeneratedDoc:
    """A scanned page (an image of seven paragraphs) under an invisible text layer, the way
    OCR tools save searchable PDFs. ``wrong``: the layer's lines say other things than the
    image's (each line carries the text of a line half the page away: plausible words, clean
    characters, a bad OCR tool's layer); else the layer is the page's own text. ``under``: the
    layer is drawn visibly beneath the image instead, which hides it (another way OCR tools
    save searchable PDFs)."""
    paras = [*RU_PARAGRAPHS, *EN_PARAGRAPHS]
    source = make_text_pdf(Path(path).with_suffix(".src.pdf"), ["\n\n".join(paras)])
    with pymupdf.open(source.path) as src:
        png = src[0].get_pixmap(dpi=200, colorspace=pymupdf.csGRAY).tobytes("png")
        lines = [(ln["bbox"], "".join(sp["text"] for sp in ln["spans"]), ln["spans"][0]["size"])
                 for b in src[0].get_text("dict")["blocks"] for ln in b.get("lines", [])]
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    if not under:
        page.insert_image(page.rect, stream=png)
    page.insert_font(fontname="dv", fontfile=str(font_path()))
    n = len(lines)
    for i, (bbox, _, size) in enumerate(lines):
        said = lines[(i + n // 2) % n][1] if wrong else lines[i][1]
        page.insert_text((bbox[0], bbox[3] - 0.25 * size), said, fontname="dv", fontsize=size,
                         render_mode=0 if under else 3)
    if under:
        page.insert_image(page.rect, stream=png)
    doc.save(path)
    doc.close()
    text = "\n\n".join(paras)
    return GeneratedDoc(path=Path(path), text=text, pages=[text])
