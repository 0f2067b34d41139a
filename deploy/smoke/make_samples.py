"""Writes the GPU smoke test's sample documents and their expected text into this folder.

    python deploy/smoke/make_samples.py        # needs PyMuPDF, Pillow and DejaVu Sans

Russian and English, born-digital (a PDF text layer) and scanned (page images, no text layer);
``<name>.expected.txt`` is the text each should read as. The files are committed; this script is
how they were made (run it again only to change them).
"""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

SAMPLES: dict[str, list[list[str]]] = {
    "ru-born-digital.pdf": [
        ["Отчёт о работе отдела за третий квартал", "", "В третьем квартале отдел обработал 1 248 обращений,",
         "что на 12 % больше, чем во втором. Средний срок ответа", "сократился до двух рабочих дней."],
        ["Планы на четвёртый квартал", "", "Мы перейдём на электронный документооборот и обучим",
         "сотрудников работе с новой системой учёта заявок."],
    ],
    "en-born-digital.pdf": [
        ["Quarterly report of the support team", "", "In the third quarter the team handled 1,248 requests,",
         "12 % more than in the second. The average reply time", "fell to two working days."],
    ],
    "ru-scan.pdf": [
        ["Договор поставки № 17", "", "Поставщик обязуется передать покупателю товар,",
         "а покупатель обязуется принять и оплатить его", "в сроки, указанные в настоящем договоре."],
    ],
    "en-scan.png": [
        ["Delivery note 2024-117", "", "The goods listed below were received in full", "and in good condition on 14 March."],
    ],
}  # fmt: skip


def page_image(lines: list[str], dpi: int = 200) -> Image.Image:
    """An A5 page as a scanner would give it: grey paper, black type."""
    w, h = int(5.83 * dpi), int(8.27 * dpi)
    img = Image.new("L", (w, h), 246)
    draw = ImageDraw.Draw(img)
    size = int(dpi * 0.16)
    fonts = [ImageFont.truetype(str(FONT), int(size * 1.25)), ImageFont.truetype(str(FONT), size)]
    y = int(dpi * 0.7)
    for i, line in enumerate(lines):
        draw.text((int(dpi * 0.5), y), line, fill=20, font=fonts[min(i, 1)])  # the first line is the title
        y += int(size * 1.8)
    return img.rotate(0.4, fillcolor=246, resample=Image.Resampling.BICUBIC)


def born_digital(pages: list[list[str]]) -> bytes:
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=420, height=595)  # A5 points
        page.insert_font(fontname="dv", fontfile=str(FONT))
        y = 60.0
        for i, line in enumerate(lines):
            size = 15 if i == 0 else 11
            page.insert_text((36, y), line, fontname="dv", fontsize=size)
            y += size * 1.8
    doc.subset_fonts()  # the glyphs used, not the whole font
    return doc.tobytes(garbage=3, deflate=True)


def scanned_pdf(pages: list[list[str]]) -> bytes:
    doc = pymupdf.open()
    for lines in pages:
        buf = io.BytesIO()
        page_image(lines).save(buf, format="PNG", optimize=True)
        page = doc.new_page(width=420, height=595)
        page.insert_image(page.rect, stream=buf.getvalue())
    return doc.tobytes(garbage=3, deflate=True)


def expected_text(pages: list[list[str]]) -> str:
    return "\n\n".join("\n".join(line for line in lines) for lines in pages).replace("\n\n\n", "\n\n") + "\n"


def main() -> None:
    for name, pages in SAMPLES.items():
        path = HERE / name
        if name.endswith("-born-digital.pdf"):
            path.write_bytes(born_digital(pages))
        elif name.endswith(".pdf"):
            path.write_bytes(scanned_pdf(pages))
        else:
            page_image(pages[0]).save(path, format="PNG", optimize=True)
        (HERE / f"{name}.expected.txt").write_text(expected_text(pages))
        print(f"wrote {path.name} ({path.stat().st_size} bytes) and its expected text")


if __name__ == "__main__":
    main()
