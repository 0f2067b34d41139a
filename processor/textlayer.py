"""Is a PDF page's text layer sound? One answer for every engine: the CPU engine reads a sound
layer instead of OCRing, the PaddleOCR-VL engine takes its characters instead of the VL model's.

Pure PyMuPDF; no engine imports.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import pymupdf

_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
_INVISIBLE = 3  # PyMuPDF texttrace "type": text render mode 3 (neither fill nor stroke)


@dataclass
class TextLayerVerdict:
    usable: bool
    reason: str
    chars: int


def _is_bad_char(ch: str) -> bool:
    cp = ord(ch)
    return ch == "\ufffd" or 0xE000 <= cp <= 0xF8FF or (unicodedata.category(ch) == "Cc" and ch not in "\n\t\r")


def judge_text_layer(page: pymupdf.Page, text: str) -> TextLayerVerdict:
    """Decide whether the page's own text can stand in for OCR.

    Refused when there is (almost) no text, when the text is mojibake (fonts without a
    Unicode map give U+FFFD/private-use code points, or Cyrillic shows up as Latin-1 accented
    letters), or when the text covers only a small part of a page that is mostly a picture
    (a scan with a stamp or a page number in real text).
    """
    visible = [ch for ch in text if not ch.isspace()]
    n = len(visible)
    if n < 20:
        return TextLayerVerdict(False, "no text layer", n)
    bad = sum(_is_bad_char(ch) for ch in visible)
    if bad / n > 0.03:
        return TextLayerVerdict(False, f"garbage text layer ({bad} unmapped chars)", n)
    letters = [ch for ch in visible if ch.isalpha()]
    if letters:
        # cp1251 Cyrillic decoded as Latin-1 gives runs of "Ð", "Ñ", "Ã", "å"...; real text
        # in any language we OCR has few of them.
        latin1 = sum(0xC0 <= ord(ch) <= 0x24F for ch in letters)
        if latin1 / len(letters) > 0.3:
            return TextLayerVerdict(False, "mojibake text layer", n)
        if len(letters) / n < 0.25:
            return TextLayerVerdict(False, "text layer is mostly symbols", n)
    page_area = max(1.0, page.rect.width * page.rect.height)
    images = [pymupdf.Rect(info["bbox"]) & page.rect for info in page.get_image_info()]
    image_area = sum(r.width * r.height for r in images if not r.is_empty)
    if image_area / page_area > 0.5:
        blocks = page.get_text("blocks", flags=_TEXT_FLAGS)
        text_area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in blocks if b[6] == 0)
        if text_area / page_area < 0.15 or n < 200:
            return TextLayerVerdict(False, "scanned page with a partial text layer", n)
    return TextLayerVerdict(True, "text layer", n)


def invisible_share(page: pymupdf.Page) -> float:
    """The share of the page's characters drawn invisibly (render mode 3): the OCR layer a scanner
    or OCR tool puts over a page image, i.e. another recogniser's reading, not born-digital text."""
    total = invisible = 0
    for span in page.get_texttrace():
        n = len(span["chars"])
        total += n
        if span["type"] == _INVISIBLE:
            invisible += n
    return invisible / total if total else 0.0
