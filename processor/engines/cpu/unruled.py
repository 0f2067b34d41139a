"""Tables without a grid of rules: columns from the gaps that no word crosses in any row.

Used on page images for regions the layout model labels ``table`` and for the band between
two matching horizontal rules with no vertical rule (a booktabs table: a rule above, one
below, none between the columns). A gap is a column gutter only when it is wider than a word
space by a clear margin in every row, so a paragraph between two rules stays a paragraph.
"""

from __future__ import annotations

from processor.engines.cpu.layout import Rect
from processor.engines.cpu.tables import Cell, TableGrid

Word = tuple[Rect, str]

# A column gutter is at least this many (median) word heights wide; word spaces are ~0.3-0.5.
_GUTTER_HEIGHTS = 1.0


def _rows(words: list[Word]) -> list[list[Word]]:
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w[0][1] + w[0][3]) / 2):
        cy, h = (w[0][1] + w[0][3]) / 2, w[0][3] - w[0][1]
        if rows:
            last = rows[-1]
            ly = sum((x[0][1] + x[0][3]) / 2 for x in last) / len(last)
            if abs(cy - ly) < 0.5 * h:
                last.append(w)
                continue
        rows.append([w])
    return [sorted(r, key=lambda w: w[0][0]) for r in rows]


def _gutters(words: list[Word], x0: float, x1: float, min_gap: float) -> list[float]:
    """x positions between columns: runs no word covers, at least ``min_gap`` wide."""
    spans = sorted((w[0][0], w[0][2]) for w in words)
    cuts: list[float] = []
    reach = x0
    started = False
    for a, b in spans:
        if started and a - reach >= min_gap:
            cuts.append((a + reach) / 2)
        reach = max(reach, b)
        started = True
    return [c for c in cuts if x0 < c < x1]


def grid_from_words(words: list[Word], region: Rect) -> TableGrid | None:
    """A table from the OCR words inside ``region``; None when they do not form columns."""
    # a speck or a stray dash read as a "word" must not bridge a gutter
    inside = [w for w in words if any(ch.isalnum() for ch in w[1])
              and region[0] <= (w[0][0] + w[0][2]) / 2 <= region[2]
              and region[1] <= (w[0][1] + w[0][3]) / 2 <= region[3]]
    if len(inside) < 4:
        return None
    heights = sorted(w[0][3] - w[0][1] for w in inside)
    h = heights[len(heights) // 2]
    rows = _rows(inside)
    cuts = _gutters(inside, region[0], region[2], _GUTTER_HEIGHTS * h)
    if len(rows) < 2 or not cuts:
        return None
    n_cols = len(cuts) + 1
    cells: list[Cell] = []
    multi = 0
    for r, row in enumerate(rows):
        texts: list[list[str]] = [[] for _ in range(n_cols)]
        for (bb, t) in row:
            texts[sum((bb[0] + bb[2]) / 2 > c for c in cuts)].append(t)
        multi += sum(1 for t in texts if t) >= 2
        top, bottom = min(w[0][1] for w in row), max(w[0][3] for w in row)
        edges = [region[0], *cuts, region[2]]
        cells.extend(Cell(r, c, " ".join(texts[c]), bbox=(edges[c], top, edges[c + 1], bottom)) for c in range(n_cols))
    # most rows must actually use several columns: a list with a hanging indent does not
    if multi < max(2, 0.6 * len(rows)):
        return None
    # two columns of prose side by side have long lines in every column; a table has a short one
    lengths = [[len(c.text) for c in cells if c.col == k and c.text] for k in range(n_cols)]
    if all(ls and sum(ls) / len(ls) > 30 for ls in lengths):
        return None
    words_per_cell = sorted(len(c.text.split()) for c in cells if c.text)
    if words_per_cell[len(words_per_cell) // 2] > 4:  # lines of running text cut at chance gaps
        return None
    bbox = (min(w[0][0] for w in inside), min(w[0][1] for w in inside),
            max(w[0][2] for w in inside), max(w[0][3] for w in inside))
    return TableGrid(bbox=bbox, cells=cells, n_rows=len(rows), n_cols=n_cols)


def booktabs_regions(horizontal: list[Rect], vertical: list[Rect], page_height: float) -> list[Rect]:
    """Bands spanned by two or more horizontal rules of (nearly) the same extent, close
    together, that no vertical rule touches: where a table set with rules above, below and
    under its head (and none between its columns) sits."""
    out: list[Rect] = []
    used: set[int] = set()
    rules = sorted(horizontal, key=lambda r: r[1])
    for i, top in enumerate(rules):
        if i in used:
            continue
        width = top[2] - top[0]
        chain = [top]
        for j in range(i + 1, len(rules)):
            r = rules[j]
            if abs(r[0] - top[0]) < 0.05 * width and abs(r[2] - top[2]) < 0.05 * width:
                if r[1] - chain[-1][3] > 0.3 * page_height:
                    break
                chain.append(r)
                used.add(j)
        if len(chain) < 2:
            continue
        band = (top[0], top[3], top[2], chain[-1][1])
        crossed = any(v[0] >= band[0] - 2 and v[2] <= band[2] + 2 and v[1] < band[3] and v[3] > band[1]
                      for v in vertical)
        if not crossed and band[3] - band[1] < 0.4 * page_height:
            out.append(band)
    return out
