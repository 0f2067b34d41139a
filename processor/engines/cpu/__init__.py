"""The CPU engine: PDF text layer where it is sound, Tesseract elsewhere, one page per worker.

Modules: ``engine`` (the worker pool), ``page`` (one page end to end), ``text_blocks`` (a sound
text layer's lines; ``processor.text_layer`` judges soundness), ``ocr`` (rendering and
Tesseract), ``layout`` (blocks, headings, lists, reading order), ``tables``, ``figures``,
``raster`` (numpy helpers).
"""

from processor.engines.cpu.engine import CpuEngine

__all__ = ["CpuEngine"]
