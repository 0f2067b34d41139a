"""The CPU engine: PDF text layer where it is sound, Tesseract elsewhere, one page per worker.

Modules: ``engine`` (the worker pool), ``page`` (one page end to end), ``text_layer``
(reading and judging the PDF's own text), ``ocr`` (rendering and Tesseract), ``layout``
(blocks, headings, lists, reading order), ``tables``, ``figures``, ``raster`` (numpy helpers).
"""

from processor.engines.cpu.engine import CpuEngine

__all__ = ["CpuEngine"]
