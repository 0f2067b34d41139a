"""Tables: PyMuPDF's ruling-based detector on text-layer pages, HTML out."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

import pymupdf

from processor.engines.cpu_layout import Rect

log = logging.getLogger(__name__)


@dataclass
class TableGrid:
    bbox: Rect
    rows: list[list[str | None]]  # None = covered by the cell to its left (a column span)

    @property
    def n_cols(self) -> int:
        return max((len(r) for r in self.rows), default=0)


def grid_html(grid: TableGrid) -> str:
    """HTML with colspans; the first row becomes the header when it has no spans hidden in it."""
    out = ["<table>"]
    for r, row in enumerate(grid.rows):
        tag = "th" if r == 0 and len(grid.rows) > 1 else "td"
        cells = []
        i = 0
        while i < len(row):
            text = row[i] or ""
            span = 1
            while i + span < len(row) and row[i + span] is None:
                span += 1
            attr = f' colspan="{span}"' if span > 1 else ""
            cells.append(f"<{tag}{attr}>{html.escape(' '.join(text.split()))}</{tag}>")
            i += span
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _plausible(grid: TableGrid) -> bool:
    """Ruling detectors also find boxed paragraphs and frames: a table needs a real grid."""
    if len(grid.rows) < 2 or grid.n_cols < 2:
        return False
    filled = [c for row in grid.rows for c in row if c and c.strip()]
    if len(filled) < 3:
        return False
    # A one-column-of-text frame split into fake columns leaves most cells empty.
    return len(filled) / max(1, sum(len(r) for r in grid.rows)) > 0.3


def find_tables(page: pymupdf.Page) -> list[TableGrid]:
    """Ruled tables first; text-aligned ("text" strategy) detection is too eager on prose."""
    grids: list[TableGrid] = []
    try:
        found = page.find_tables(strategy="lines")
    except Exception as exc:  # a detector failure must not cost the page its text
        log.warning("find_tables failed on page %s: %s", page.number + 1, exc)
        return []
    for table in found.tables:
        rows = table.extract()
        rows = [[None if c is None else str(c) for c in row] for row in rows]
        # Merged cells come back as None in every covered position, even in the first
        # column of a row span; give those an empty cell so the row keeps its columns.
        rows = [[("" if (c is None and i == 0) else c) for i, c in enumerate(row)] for row in rows]
        grid = TableGrid(bbox=tuple(table.bbox), rows=rows)
        if _plausible(grid):
            grids.append(grid)
    return grids
