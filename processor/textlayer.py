"""Is a PDF page's text layer sound? One answer for every engine: the CPU engine reads a sound
layer instead of OCRing, the PaddleOCR-VL engine takes its characters instead of the VL model's.

``judge_text_layer`` is the CPU engine's own check (no text, fonts whose Unicode map is broken,
mostly symbols, a scan with a stray text line; ``processor.engines.cpu.text_layer`` with its font
trust), re-exported here so the PaddleOCR-VL engine uses the same function, not a copy.
``invisible_share`` adds what only the hybrid needs: an OCR layer drawn invisibly over a scan is
another recogniser's reading, not the author's characters.
"""

from __future__ import annotations

import pymupdf

from processor.engines.cpu.text_layer import TextLayerVerdict, judge_text_layer

__all__ = ["TextLayerVerdict", "invisible_share", "judge_text_layer"]

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
