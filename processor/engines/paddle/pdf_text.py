"""Text-layer hybrid for PaddleOCR-VL (``DOCWATCH_PADDLE__TEXT_FROM_PDF=auto``): on a born-digital
PDF page whose text layer is sound, text-like blocks take their characters from the PDF inside the
block's box; PaddleOCR-VL keeps the layout, block types, order, tables and formulas.

Why: a VL model misreads characters now and then (Latin look-alikes in Cyrillic words, dropped
diacritics, merged lines, a pipeline version reading Cyrillic worse); a sound text layer has the
author's characters. Not sound (``processor.text_layer.judge_text_layer``: no text, unmapped glyphs,
mojibake, a scan with a stray text line) or drawn invisibly over a scan (another OCR's reading):
the VL text stays. A block whose box holds much less PDF text than the VL model read (text inside
a picture) keeps the VL text too. No paddle import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pymupdf

from processor.document import TextLayerUse
from processor.engines.paddle.blocks import RawBlock
from processor.text_layer import invisible_share, judge_text_layer

# labels whose content is plain text (tables, formulas, code, pictures keep the VL model's reading)
TEXT_LABELS = frozenset({
    "text", "ocr", "paragraph_title", "doc_title", "abstract", "content", "reference", "reference_content",
    "figure_title", "table_title", "chart_title", "vision_footnote", "footnote", "aside_text", "header",
    "footer", "number", "abstract_title", "reference_title", "content_title",
})  # fmt: skip
_WORD_FLAGS = pymupdf.TEXTFLAGS_WORDS & ~pymupdf.TEXT_PRESERVE_LIGATURES  # "ﬁ" -> "fi", as a reader reads it
_MIN_COVER = 0.5  # the PDF must hold at least half the characters the VL model read in the box
_SLACK = 1.0  # points: a word's centre may sit this far outside the box


@dataclass
class PageTextLayer:
    """What the text layer gives one page: the verdict, and the text per block (by block index)."""

    use: TextLayerUse
    texts: dict[int, str] = field(default_factory=dict)


def read_page(page: pymupdf.Page, raws: list[RawBlock], scale: tuple[float, float]) -> PageTextLayer:
    """Judge ``page``'s text layer and cut its text to each text-like block's box (pipeline pixels
    times ``scale`` = page points)."""
    verdict = judge_text_layer(page, page.get_text())
    if not verdict.usable:
        return PageTextLayer(TextLayerUse(used=False, reason=verdict.reason))
    if invisible_share(page) > 0.5:
        return PageTextLayer(TextLayerUse(used=False, reason="invisible text layer over a scan (OCR)"))
    words = page.get_text("words", flags=_WORD_FLAGS)
    sx, sy = scale
    texts = {}
    for raw in raws:
        if raw.label not in TEXT_LABELS:
            continue
        x0, y0, x1, y1 = raw.bbox
        text = words_in_box(words, (min(x0, x1) * sx, min(y0, y1) * sy, max(x0, x1) * sx, max(y0, y1) * sy))
        vl_chars = len("".join(raw.content.split()))
        if text and len("".join(text.split())) >= _MIN_COVER * vl_chars:
            texts[raw.index] = text
    return PageTextLayer(TextLayerUse(used=True, reason=verdict.reason), texts)


def words_in_box(words: list[tuple], box: tuple[float, float, float, float]) -> str:
    """The words whose centre lies in ``box``, as lines (top to bottom, words left to right)."""
    x0, y0, x1, y1 = box
    lines: dict[tuple[int, int], list[tuple]] = {}
    for w in words:
        cx, cy = (w[0] + w[2]) / 2, (w[1] + w[3]) / 2
        if x0 - _SLACK <= cx <= x1 + _SLACK and y0 - _SLACK <= cy <= y1 + _SLACK:
            lines.setdefault((w[5], w[6]), []).append(w)
    rows: list[list[tuple]] = []
    for ws in sorted(lines.values(), key=lambda ws: (min(w[1] for w in ws), min(w[0] for w in ws))):
        if rows and _same_row(rows[-1], ws):  # one visual line the PDF wrote in pieces
            rows[-1].extend(ws)
        else:
            rows.append(list(ws))
    return "\n".join(" ".join(w[4] for w in sorted(row, key=lambda w: w[0])) for row in rows)


def _same_row(a: list[tuple], b: list[tuple]) -> bool:
    a0, a1 = min(w[1] for w in a), max(w[3] for w in a)
    b0, b1 = min(w[1] for w in b), max(w[3] for w in b)
    return min(a1, b1) - max(a0, b0) > 0.5 * min(a1 - a0, b1 - b0)


def apply(raws: list[RawBlock], layer: PageTextLayer | None) -> TextLayerUse | None:
    """Put the text layer's characters into the blocks it covers; the page's record of it."""
    if layer is None:
        return None
    count = 0
    for raw in raws:
        text = layer.texts.get(raw.index)
        if text is not None and raw.label in TEXT_LABELS:
            raw.content = text
            count += 1
    return layer.use.model_copy(update={"blocks": count})
