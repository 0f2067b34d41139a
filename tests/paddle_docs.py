"""Small generated test documents for the PaddleOCR-VL engine tests (PyMuPDF + DejaVu Sans)."""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf

_FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
]

# One short paragraph per page, Russian and English, big enough type for Tesseract at 144 DPI.
PAGE_TEXTS: list[list[str]] = [
    [
        "Отчёт о проверке документов",
        "Первая страница содержит русский текст.",
        "The first page also has English words.",
    ],
    [
        "Вторая страница: итоги работы",
        "Система распознала все страницы файла.",
        "Second page: recognition finished well.",
    ],
]


def dejavu_font() -> Path | None:
    for cand in _FONT_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    return None


def make_pdf(pages: list[list[str]] = PAGE_TEXTS, fontsize: float = 16) -> bytes:
    """A PDF (A5-ish pages) with the given lines per page, set in DejaVu Sans."""
    font = dejavu_font()
    if font is None:
        raise RuntimeError("DejaVu Sans not found: apt-get install fonts-dejavu-core")
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=420, height=300)
        page.insert_font(fontname="dejavu", fontfile=str(font))
        y = 50.0
        for line in lines:
            page.insert_text((30, y), line, fontname="dejavu", fontsize=fontsize)
            y += fontsize * 2.2
    data = doc.tobytes()
    doc.close()
    return data


def make_png(lines: list[str], width: int = 900, height: int = 300, fontsize: int = 34) -> bytes:
    """A page image with the given lines (used for warm-up style checks)."""
    from PIL import Image, ImageDraw, ImageFont

    font_path = dejavu_font()
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(font_path), fontsize) if font_path else ImageFont.load_default()
    y = 30
    for line in lines:
        draw.text((30, y), line, fill="black", font=font)
        y += int(fontsize * 1.6)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def stub_vl_env(server_url: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    """Daemon settings for the real PaddleOCR-VL pipeline on CPU, its VL model served by the stub."""
    return {
        "DOCWATCH_ENGINE": "paddleocr-vl",
        "DOCWATCH_PADDLE__DEVICE": "cpu",
        "DOCWATCH_PADDLE__USE_LAYOUT_DETECTION": "false",
        "DOCWATCH_PADDLE__VL_REC_BACKEND": "vllm-server",
        "DOCWATCH_PADDLE__VL_REC_SERVER_URL": server_url,
        "DOCWATCH_PADDLE__PIPELINE_VERSION": "v1.5",
        "DOCWATCH_PADDLE__CACHE_DIR": str(cache_dir),
        **extra,
    }
