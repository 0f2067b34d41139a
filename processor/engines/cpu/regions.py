"""OCR for parts of a text-layer page: the blocks whose text layer is not to be trusted.

The untrusted blocks are cut out of one page render and stacked one under another with
white gaps, so a single Tesseract call (one model load) reads all of them, each on its own;
words are mapped back to their block by the strip they fall in. Font size, weight and
monospacing stay those of the text layer: a broken Unicode map does not make them wrong.
"""

from __future__ import annotations

import numpy as np
import pymupdf

from processor.engines.cpu.layout import Line, TextBlock, union
from processor.engines.cpu.ocr import OcrWord, fix_scripts, fix_urls, mean_confidence, run_tesseract, word_boxes
from processor.font_trust import BLOCK_UNTRUSTED_SHARE

_PAD = 3.0  # points around a block, so glyphs on its edge are not cut


def reocr_untrusted(page: pymupdf.Page, blocks: list[TextBlock], dpi: int, languages: str,
                    replaced_pairs: list[tuple[TextBlock, TextBlock | None]] | None = None) -> list[TextBlock]:
    """``blocks`` with every untrusted one replaced by its OCR reading (dropped when OCR
    finds nothing there: its text-layer letters are garbage either way). Each (untrusted
    block, its reading) is appended to ``replaced_pairs`` when given."""
    bad = [b for b in blocks if b.untrusted_share > BLOCK_UNTRUSTED_SHARE]
    if not bad:
        return blocks
    pm = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    gray = np.frombuffer(pm.samples, dtype=np.uint8).reshape(pm.height, pm.width)
    k = dpi / 72.0
    gap = max(20, int(k * 12))
    crops: list[tuple[np.ndarray, int, int]] = []  # image, page x0/y0 in pixels
    for b in bad:
        x0, y0 = max(0, int((b.bbox[0] - _PAD) * k)), max(0, int((b.bbox[1] - _PAD) * k))
        x1, y1 = min(pm.width, int((b.bbox[2] + _PAD) * k) + 1), min(pm.height, int((b.bbox[3] + _PAD) * k) + 1)
        crops.append((gray[y0:y1, x0:x1], x0, y0))
    width = max(c.shape[1] for c, _, _ in crops) + 2 * gap
    height = sum(c.shape[0] + gap for c, _, _ in crops) + gap
    mosaic = np.full((height, width), 255, dtype=np.uint8)
    strips: list[tuple[int, int, int, int]] = []  # mosaic y0, y1 and the crop's page offset
    y = gap
    for crop, px, py in crops:
        mosaic[y:y + crop.shape[0], gap:gap + crop.shape[1]] = crop
        strips.append((y, y + crop.shape[0], px - gap, py - y))
        y += crop.shape[0] + gap
    # psm 6: each strip is one uniform block of text; boxes come back in mosaic pixels
    words = run_tesseract(mosaic, 1.0, languages, psm=6)
    fix_scripts(words)
    replaced: dict[int, TextBlock | None] = {}
    for b, (s0, s1, dx, dy) in zip(bad, strips, strict=True):
        mine = [w for w in words if s0 <= (w.bbox[1] + w.bbox[3]) / 2 < s1]
        replaced[id(b)] = _block_from_words(b, mine, dx, dy, 1.0 / k)
        if replaced_pairs is not None:
            replaced_pairs.append((b, replaced[id(b)]))
    out: list[TextBlock] = []
    for b in blocks:
        if id(b) not in replaced:
            out.append(b)
        elif replaced[id(b)] is not None:
            out.append(replaced[id(b)])
    return out


def _block_from_words(original: TextBlock, words: list[OcrWord], dx: int, dy: int, to_page: float) -> TextBlock | None:
    rows: dict[tuple[int, int, int], list[OcrWord]] = {}
    for w in words:
        if w.text.strip():
            rows.setdefault((w.block, w.par, w.line), []).append(w)
    lines: list[Line] = []
    for ws in rows.values():
        bbox = union([((w.bbox[0] + dx) * to_page, (w.bbox[1] + dy) * to_page,
                       (w.bbox[2] + dx) * to_page, (w.bbox[3] + dy) * to_page) for w in ws])
        near = min(original.lines, key=lambda ln: abs((ln.bbox[1] + ln.bbox[3]) - (bbox[1] + bbox[3])))
        text = fix_urls(" ".join(w.text for w in ws))
        lines.append(Line(text=text, bbox=bbox, size=near.size, bold=near.bold, mono=near.mono,
                          conf=mean_confidence(ws) / 100, words=word_boxes(ws, dx, dy, to_page)))
    if not lines:
        return None
    lines.sort(key=lambda ln: ln.bbox[1])
    return TextBlock(lines=lines, bbox=union([ln.bbox for ln in lines]))
