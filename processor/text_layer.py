"""Is a PDF page's text layer sound? One judge for every engine: the CPU engine reads a sound
layer instead of OCRing, the PaddleOCR-VL engine takes its characters instead of the VL model's."""

from __future__ import annotations

from dataclasses import dataclass

import pymupdf

from processor.font_trust import page_untrusted_share, tally_fonts

# How every engine reads a page's text: whitespace kept, clipped to the page, no dehyphenation
TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP


@dataclass
class TextLayerVerdict:
    usable: bool
    reason: str
    chars: int


def judge_text_layer(page: pymupdf.Page, text: str, data: dict | None = None) -> TextLayerVerdict:
    """Decide whether the page's own text can stand in for OCR, as a whole.

    Refused when there is (almost) no text, when most of it comes from fonts whose Unicode
    map is broken (see ``trust``: then one OCR pass over the page is cheaper than many
    regions), when it is mostly symbols, or when it covers only a small part of a page that
    is mostly a picture (a scan with a stamp or a page number in real text). A page that
    passes may still have untrusted regions: those are read by OCR one by one.
    """
    visible = [ch for ch in text if not ch.isspace()]
    n = len(visible)
    if n < 20:
        return TextLayerVerdict(False, "no text layer", n)
    data = data if data is not None else read_rawdict(page)
    share = page_untrusted_share(data, tally_fonts(data))
    if share > 0.5:
        return TextLayerVerdict(False, f"garbage text layer ({share:.0%} of characters untrusted)", n)
    letters = [ch for ch in visible if ch.isalpha()]
    if letters and len(letters) / n < 0.25:
        return TextLayerVerdict(False, "text layer is mostly symbols", n)
    page_area = max(1.0, page.rect.width * page.rect.height)
    images = [pymupdf.Rect(info["bbox"]) & page.rect for info in page.get_image_info()]
    image_area = sum(r.width * r.height for r in images if not r.is_empty)
    if image_area / page_area > 0.5:
        blocks = page.get_text("blocks", flags=TEXT_FLAGS)
        text_area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in blocks if b[6] == 0)
        if text_area / page_area < 0.15 or n < 200:
            return TextLayerVerdict(False, "scanned page with a partial text layer", n)
    return TextLayerVerdict(True, "text layer", n)


def read_rawdict(page: pymupdf.Page) -> dict:
    """The page's text with every span given a ``text`` (glyph gaps as spaces), read once
    for the paragraphs and the table cells alike."""
    data = page.get_text("rawdict", flags=TEXT_FLAGS)
    for raw in data["blocks"]:
        for rl in raw.get("lines", []):
            fill_span_text(rl["spans"])
    return data


def fill_span_text(spans: list[dict]) -> None:
    """Give each rawdict span a ``text``, with a space wherever glyphs stand apart by more
    than a fifth of the font size: some PDFs position words without space characters."""
    prev_x1: float | None = None
    prev_char = " "
    for span in spans:
        out = []
        gap_limit = 0.2 * span["size"]
        for ch in span["chars"]:
            c = ch["c"]
            x0 = ch["bbox"][0]
            if prev_x1 is not None and c != " " and prev_char != " " and x0 - prev_x1 > gap_limit:
                out.append(" ")
            out.append(c)
            prev_x1, prev_char = ch["bbox"][2], c
        span["text"] = "".join(out)


_INVISIBLE = 3  # PyMuPDF texttrace "type": text render mode 3 (neither fill nor stroke)


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
