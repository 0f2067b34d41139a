"""Generate real test documents (PDFs, page images) with known content.

Every ``make_*`` function writes a file and returns a ``GeneratedDoc``: the path, the
ground-truth text (``text``: all pages, blank-line separated; ``pages``: per page) and, for
the structured document, what each part is (headings, list items, table cells, furniture).

Text is set in DejaVu Sans (real TrueType with Cyrillic, embedded with a Unicode map, so
the PDF text layer is clean). It must be installed: ``apt-get install fonts-dejavu-core``.

    from tests.docs import make_text_pdf, make_structured_pdf, make_scan_png, make_blank_pdf
    doc = make_text_pdf(tmp_path / "a.pdf", ["Первая страница.", "Second page."])
    doc.path, doc.text, doc.pages
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf
from PIL import Image, ImageFilter

__all__ = [
    "EN_PARAGRAPHS",
    "RU_PARAGRAPHS",
    "GeneratedDoc",
    "font_path",
    "make_blank_pdf",
    "make_captioned_pdf",
    "scan_of",
    "make_figure_pdf",
    "make_multipage_pdf",
    "make_scan_png",
    "make_scan_tiff",
    "make_scanned_pdf",
    "make_structured_pdf",
    "make_text_pdf",
]

_FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"), Path("/usr/share/fonts/TTF")]

RU_PARAGRAPHS = [
    (
        "Съешь же ещё этих мягких французских булок, да выпей чаю. Эта фраза содержит все буквы "
        "русского алфавита и часто используется для проверки шрифтов."
    ),
    (
        "Программа преобразует документы в формат Markdown и сохраняет структуру: заголовки, "
        "абзацы, списки и таблицы остаются на своих местах."
    ),
    (
        "Распознавание текста выполняется только для тех страниц, где нет хорошего текстового слоя. "
        "Пустые страницы пропускаются без обращения к движку распознавания."
    ),
    (
        "Каждая страница обрабатывается отдельным процессом, поэтому длинные документы "
        "конвертируются быстрее на многоядерных машинах."
    ),
]
EN_PARAGRAPHS = [
    "The quick brown fox jumps over the lazy dog while the committee reviews the quarterly report.",
    (
        "Document conversion keeps headings, paragraphs, lists and tables in their reading order, "
        "and leaves running headers and page numbers out of the body text."
    ),
    "A scanned page has no text layer, so its words are recognised from the page image instead.",
]


@dataclass
class GeneratedDoc:
    path: Path
    text: str
    pages: list[str]
    headings: list[str] = field(default_factory=list)
    list_items: list[str] = field(default_factory=list)
    table_cells: list[list[str]] = field(default_factory=list)
    furniture: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)


def font_path(bold: bool = False) -> Path:
    """DejaVu Sans (Bold): a TrueType font with Cyrillic glyphs."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in _FONT_DIRS:
        if (d / name).exists():
            return d / name
    raise FileNotFoundError(f"{name} not found; install it with: apt-get install fonts-dejavu-core")


class _Writer:
    """A page with the DejaVu fonts registered, writing text into boxes top to bottom."""

    def __init__(self, doc: pymupdf.Document, width: float = 595, height: float = 842) -> None:
        self.page = doc.new_page(width=width, height=height)
        self.page.insert_font(fontname="dv", fontfile=str(font_path()))
        self.page.insert_font(fontname="dvb", fontfile=str(font_path(bold=True)))

    def box(self, rect: tuple[float, float, float, float], text: str, size: float = 11, bold: bool = False) -> float:
        """Write ``text`` wrapped into ``rect``; returns the y just below the text."""
        r = pymupdf.Rect(rect)
        spare = self.page.insert_textbox(r, text, fontname="dvb" if bold else "dv", fontsize=size, lineheight=1.3)
        if spare < 0:
            raise ValueError(f"text does not fit into {rect}: {text[:40]!r}")
        return r.y1 - spare

    def line(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        self.page.draw_line(pymupdf.Point(p0), pymupdf.Point(p1), width=0.8)


def _flow(w: _Writer, y: float, text: str, size: float = 11, bold: bool = False, x0: float = 60,
          x1: float = 535) -> float:
    return w.box((x0, y, x1, y + 400), text, size=size, bold=bold) + size * 0.9


def make_text_pdf(path: Path, pages: list[str], size: float = 11) -> GeneratedDoc:
    """One page per string, each set as plain paragraphs (split on blank lines)."""
    doc = pymupdf.open()
    for text in pages:
        w = _Writer(doc)
        y = 72.0
        for para in [p for p in text.split("\n\n") if p.strip()]:
            y = _flow(w, y, para, size=size)
    doc.save(path)
    doc.close()
    return GeneratedDoc(path=Path(path), text="\n\n".join(pages), pages=list(pages))


def make_multipage_pdf(path: Path, n: int = 5) -> GeneratedDoc:
    """``n`` pages, each with distinct text that names its page (Russian and English)."""
    pages = [
        f"Страница номер {i + 1}: {RU_PARAGRAPHS[i % len(RU_PARAGRAPHS)]}\n\n"
        f"Page {i + 1} says: {EN_PARAGRAPHS[i % len(EN_PARAGRAPHS)]}"
        for i in range(n)
    ]
    return make_text_pdf(path, pages)


def make_structured_pdf(path: Path) -> GeneratedDoc:
    """Two pages with a title, headings, paragraphs, a bullet list, a ruled table, a
    two-column section, and a running header and page-number footer on both pages."""
    doc = pymupdf.open()
    header = "Руководство docwatch — Test Manual"
    title = "Преобразование документов"
    h_list, h_table, h_cols, h_p2 = "Возможности системы", "Таблица форматов", "Two columns", "Вторая глава"
    items = ["Распознавание русского текста", "Tables become HTML", "Заголовки и списки сохраняются"]
    cells = [["Формат", "Описание", "Pages"], ["PDF", "Документ с текстом", "12"], ["PNG", "Скан страницы", "1"]]
    left_col = RU_PARAGRAPHS[2]
    right_col = EN_PARAGRAPHS[1]
    body = [RU_PARAGRAPHS[0], RU_PARAGRAPHS[1], EN_PARAGRAPHS[0]]
    texts: list[str] = []
    for number in (1, 2):
        w = _Writer(doc)
        w.box((60, 28, 535, 44), header, size=8)
        w.line((60, 46), (535, 46))
        w.box((280, 800, 320, 816), str(number), size=9)
        if number == 1:
            y = _flow(w, 80, title, size=20, bold=True)
            y = _flow(w, y, body[0])
            y = _flow(w, y, h_list, size=14, bold=True)
            for item in items:
                y = w.box((60, y, 535, y + 40), f"•  {item}") + 4
            y = _flow(w, y + 8, h_table, size=14, bold=True)
            y = _table(w, y, cells) + 16
            y = _flow(w, y, h_cols, size=14, bold=True)
            top = y
            yl = _flow(w, top, left_col, x0=60, x1=285)
            yr = _flow(w, top, right_col, x0=310, x1=535)
            _flow(w, max(yl, yr) + 6, body[1])
            texts.append("\n\n".join([title, body[0], h_list, *items, h_table, *[" ".join(r) for r in cells],
                                      h_cols, left_col, right_col, body[1]]))
        else:
            y = _flow(w, 80, h_p2, size=14, bold=True)
            y = _flow(w, y, body[2])
            _flow(w, y, RU_PARAGRAPHS[3])
            texts.append("\n\n".join([h_p2, body[2], RU_PARAGRAPHS[3]]))
    doc.save(path)
    doc.close()
    return GeneratedDoc(
        path=Path(path), text="\n\n".join(texts), pages=texts, headings=[title, h_list, h_table, h_cols, h_p2],
        list_items=items, table_cells=cells, furniture=[header, "1", "2"],
    )


def _table(w: _Writer, y: float, cells: list[list[str]]) -> float:
    xs = [60, 180, 420, 535]
    row_h = 22
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            w.box((xs[c] + 4, y + r * row_h + 4, xs[c + 1] - 4, y + (r + 1) * row_h), text, size=10, bold=r == 0)
    bottom = y + len(cells) * row_h
    for r in range(len(cells) + 1):
        w.line((xs[0], y + r * row_h), (xs[-1], y + r * row_h))
    for x in xs:
        w.line((x, y), (x, bottom))
    return bottom


def _page_image(text: str, dpi: int, angle: float, noise: float, seed: int) -> Image.Image:
    """Render ``text`` as a page and degrade it like a scan: rotation, blur, grain."""
    doc = pymupdf.open()
    w = _Writer(doc)
    y = 72.0
    for para in [p for p in text.split("\n\n") if p.strip()]:
        y = _flow(w, y, para, size=12)
    png = doc[0].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY).tobytes("png")
    doc.close()
    img = Image.open(io.BytesIO(png)).convert("L")
    if angle:
        img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(0.4))
    if noise:
        rng = random.Random(seed)
        px = img.load()
        for _ in range(img.width * img.height // 40):
            x, y = rng.randrange(img.width), rng.randrange(img.height)
            px[x, y] = max(0, min(255, px[x, y] + int(rng.gauss(0, noise * 4))))
    return img


def make_scan_png(path: Path, text: str | None = None, dpi: int = 200, angle: float = 0.7,
                  noise: float = 6, seed: int = 1, quarter_turns: int = 0) -> GeneratedDoc:
    """A scanned-looking page image (PNG) of ``text`` (default: Russian paragraphs);
    ``quarter_turns`` turns the page counter-clockwise, as if fed into the scanner sideways."""
    text = text or "\n\n".join(RU_PARAGRAPHS[:3])
    img = _page_image(text, dpi, angle, noise, seed)
    if quarter_turns % 4:
        img = img.rotate(90 * (quarter_turns % 4), expand=True, fillcolor=255)
    img.save(path, dpi=(dpi, dpi))
    return GeneratedDoc(path=Path(path), text=text, pages=[text])


def make_scan_tiff(path: Path, pages: list[str] | None = None, dpi: int = 200) -> GeneratedDoc:
    """A multi-page TIFF of scanned-looking pages, one per string."""
    pages = pages or [RU_PARAGRAPHS[0], EN_PARAGRAPHS[0] + "\n\n" + EN_PARAGRAPHS[2]]
    images = [_page_image(t, dpi, 0.5, 4, i) for i, t in enumerate(pages)]
    images[0].save(path, save_all=True, append_images=images[1:], dpi=(dpi, dpi), compression="tiff_deflate")
    return GeneratedDoc(path=Path(path), text="\n\n".join(pages), pages=list(pages))


def make_scanned_pdf(path: Path, text: str | None = None, stamp: str | None = None, dpi: int = 200) -> GeneratedDoc:
    """An image-only PDF page (a scan); ``stamp`` adds a small real-text line at the bottom,
    like a scanner's page label, so the page has a text layer that covers almost nothing."""
    text = text or "\n\n".join(RU_PARAGRAPHS[:2])
    buf = io.BytesIO()
    _page_image(text, dpi, 0.4, 4, 3).save(buf, format="PNG")
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_image(page.rect, stream=buf.getvalue())
    if stamp:
        page.insert_font(fontname="dv", fontfile=str(font_path()))
        page.insert_text((60, 830), stamp, fontname="dv", fontsize=7)
    doc.save(path)
    doc.close()
    return GeneratedDoc(path=Path(path), text=text, pages=[text])


def make_blank_pdf(path: Path, n: int) -> GeneratedDoc:
    """``n`` empty A4 pages."""
    doc = pymupdf.open()
    for _ in range(n):
        doc.new_page(width=595, height=842)
    doc.save(path)
    doc.close()
    return GeneratedDoc(path=Path(path), text="", pages=[""] * n)


def _picture_png() -> bytes:
    """A gradient with a disc: a picture no text detector mistakes for text."""
    img = Image.new("RGB", (400, 240), "white")
    px = img.load()
    for x in range(400):
        for y in range(240):
            inside = (x - 200) ** 2 + (y - 120) ** 2 < 80**2
            px[x, y] = (200, 40, 40) if inside else (x * 255 // 400, y * 255 // 240, 160)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_figure_pdf(path: Path) -> GeneratedDoc:
    """A page with a paragraph, an embedded picture (a gradient with a disc) and a caption-less
    second paragraph below it."""
    doc = pymupdf.open()
    w = _Writer(doc)
    y = _flow(w, 72, RU_PARAGRAPHS[1])
    w.page.insert_image(pymupdf.Rect(120, y + 10, 420, y + 190), stream=_picture_png())
    _flow(w, y + 210, EN_PARAGRAPHS[2])
    doc.save(path)
    doc.close()
    text = f"{RU_PARAGRAPHS[1]}\n\n{EN_PARAGRAPHS[2]}"
    return GeneratedDoc(path=Path(path), text=text, pages=[text])


def make_captioned_pdf(path: Path) -> GeneratedDoc:
    """A page with a paragraph, a picture captioned below it ("Figure 1: …"), a paragraph, a ruled
    table captioned above it ("Table 1: …") and a last paragraph. ``captions``: the two captions."""
    fig_caption, table_caption = "Figure 1: Sales by region", "Table 1: Regional totals"
    cells = [["Region", "Sales", "Share"], ["North", "120", "40%"], ["South", "180", "60%"]]
    doc = pymupdf.open()
    w = _Writer(doc)
    y = _flow(w, 72, EN_PARAGRAPHS[0])
    w.page.insert_image(pymupdf.Rect(150, y + 6, 450, y + 156), stream=_picture_png())
    y = _flow(w, y + 164, fig_caption, size=10, x0=150, x1=450)
    y = _flow(w, y + 10, EN_PARAGRAPHS[1])
    y = _flow(w, y + 10, table_caption, size=10)
    y = _table(w, y, cells) + 16
    _flow(w, y, EN_PARAGRAPHS[2])
    doc.save(path)
    doc.close()
    texts = [EN_PARAGRAPHS[0], fig_caption, EN_PARAGRAPHS[1], table_caption, *[" ".join(r) for r in cells],
             EN_PARAGRAPHS[2]]
    text = "\n\n".join(texts)
    return GeneratedDoc(path=Path(path), text=text, pages=[text], table_cells=cells,
                        captions=[fig_caption, table_caption])


def scan_of(doc: GeneratedDoc, path: Path, dpi: int = 200, page: int = 0) -> GeneratedDoc:
    """A PNG "scan" of one page of a generated PDF (same ground truth for that page)."""
    with pymupdf.open(doc.path) as pdf:
        pdf[page].get_pixmap(dpi=dpi).save(str(path))
    return GeneratedDoc(path=Path(path), text=doc.pages[page], pages=[doc.pages[page]])
