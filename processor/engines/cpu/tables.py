"""Tables: PyMuPDF's ruling-based grid finder, on the text layer or on rulings found in a
page image, HTML (with spans) out."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymupdf

from processor.document import TableCell
from processor.engines.cpu.layout import Rect, join_lines, overlap_ratio, union
from processor.engines.cpu.raster import erase, rule_segments, stack
from processor.engines.cpu.to_document import bbox_of
from processor.table_cells import table_cells

log = logging.getLogger(__name__)


@dataclass
class Cell:
    row: int
    col: int
    text: str
    rowspan: int = 1
    colspan: int = 1
    bbox: Rect | None = None


@dataclass
class Span:
    """A text-layer span: its text, box, the line it belongs to, and its glyphs."""

    text: str
    bbox: Rect
    line: int
    chars: list[tuple[str, Rect]]
    size: float


@dataclass
class TableGrid:
    bbox: Rect
    cells: list[Cell]
    n_rows: int
    n_cols: int


@dataclass
class Segments:
    """Ruling lines found in a page image, in page units: (x0, y0, x1, y1) each."""

    horizontal: list[Rect]
    vertical: list[Rect]


def grid_html(grid: TableGrid) -> str:
    """HTML with row/column spans; a first row above the body is marked up as the header."""
    out = ["<table>"]
    for r in range(grid.n_rows):
        tag = "th" if r == 0 and grid.n_rows > 1 else "td"
        cells = []
        for c in sorted((c for c in grid.cells if c.row == r), key=lambda c: c.col):
            attr = (f' colspan="{c.colspan}"' if c.colspan > 1 else "") + (
                f' rowspan="{c.rowspan}"' if c.rowspan > 1 else "")
            cells.append(f"<{tag}{attr}>{html.escape(' '.join(c.text.split()))}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def grid_cells(grid: TableGrid, html_text: str | None = None) -> list[TableCell] | None:
    """The cells of ``grid_html(grid)`` with the boxes the grid knows (page units)."""
    cells = table_cells(html_text or grid_html(grid))
    if cells is None:
        return None
    boxes = {(c.row, c.col): c.bbox for c in grid.cells if c.bbox is not None}
    return [cell.model_copy(update={"bbox": bbox_of(box)}) if (box := boxes.get((cell.row, cell.col))) else cell
            for cell in cells]


def grid_from_table(table, text_of: Callable[[int, int, Rect], str]) -> TableGrid:
    """A PyMuPDF ``Table`` as cells with spans. PyMuPDF marks every position covered by a
    merged cell as None; the span is read back from the merged cell's own bbox against the
    column and row edges."""
    rows = [list(r.cells) for r in table.rows]
    n_cols = max((len(r) for r in rows), default=0)
    col_x0 = [min((r[c][0] for r in rows if c < len(r) and r[c]), default=1e9) for c in range(n_cols)]
    row_y0 = [min((c[1] for c in r if c), default=1e9) for r in rows]
    cells: list[Cell] = []
    for ri, row in enumerate(rows):
        for ci, bbox in enumerate(row):
            if bbox is None:
                continue
            tol = 0.5 * min(3.0, (bbox[2] - bbox[0]) / 4, (bbox[3] - bbox[1]) / 2)
            colspan = 1 + sum(1 for c in range(ci + 1, n_cols) if col_x0[c] < bbox[2] - tol
                              and (c >= len(row) or row[c] is None))
            rowspan = 1 + sum(1 for r in range(ri + 1, len(rows)) if row_y0[r] < bbox[3] - tol
                              and (ci >= len(rows[r]) or rows[r][ci] is None))
            cells.append(Cell(ri, ci, text_of(ri, ci, tuple(bbox)), rowspan, colspan, tuple(bbox)))
    return TableGrid(bbox=tuple(table.bbox), cells=cells, n_rows=len(rows), n_cols=n_cols)


def _plausible(grid: TableGrid) -> bool:
    """Ruling detectors also find boxed paragraphs and frames: a table needs a real grid."""
    if grid.n_rows < 2 or grid.n_cols < 2:
        return False
    filled = [c for c in grid.cells if c.text.strip()]
    if len(filled) < 3:
        return False
    # A drawing frame around the whole page (an ESKD sheet with its title block) or a box
    # around prose is one big cell with a few small ones beside it: a frame, not a table.
    area = max(1e-6, (grid.bbox[2] - grid.bbox[0]) * (grid.bbox[3] - grid.bbox[1]))
    biggest = max(((c.bbox[2] - c.bbox[0]) * (c.bbox[3] - c.bbox[1]) for c in grid.cells if c.bbox), default=0.0)
    if biggest / area > 0.6:
        return False
    # A frame around prose split into fake cells leaves most of them empty.
    return len(filled) / max(1, len(grid.cells)) > 0.3


def find_tables(page: pymupdf.Page, spans: list[Span]) -> list[TableGrid]:
    """Ruled tables from the text layer; text-aligned detection is too eager on prose.
    Cell text comes from ``spans`` in content-stream order: PyMuPDF's own extraction sorts
    glyphs by position, which shuffles text that overlaps a neighbouring cell."""
    if not _may_hold_a_grid(page):
        return []
    try:
        found = page.find_tables(strategy="lines")
    except Exception as exc:  # a detector failure must not cost the page its text
        log.warning("find_tables failed on page %s: %s", page.number + 1, exc)
        return []
    grids: list[TableGrid] = []
    for table in found.tables:
        tb = tuple(table.bbox)
        local = [sp for sp in spans if overlap_ratio(sp.bbox, tb) > 0.5]
        cells = [tuple(c) for c in table.cells if c]
        split = {id(sp) for sp in local if max((overlap_ratio(sp.bbox, c) for c in cells), default=0) < 0.6}

        def text_of(_r: int, _c: int, bbox: Rect, local=local, split=split) -> str:
            return _cell_text(local, split, bbox)

        grid = grid_from_table(table, text_of)
        if _plausible(grid):
            grids.append(_with_header_above(page, table, grid))
    return grids


def _may_hold_a_grid(page: pymupdf.Page) -> bool:
    """The "lines" strategy builds cells from vector edges only, so a table needs horizontal
    and vertical edges (or rectangles). Pages with just a rule or two (under a running head,
    above footnotes) are skipped: the finder's glyph pass costs more than the rest of the page."""
    horizontal = vertical = 0
    for drawing in page.get_cdrawings():
        for item in drawing["items"]:
            if item[0] in ("re", "qu"):
                return True
            if item[0] == "l":
                (ax, ay), (bx, by) = item[1], item[2]
                horizontal += abs(ay - by) < 1
                vertical += abs(ax - bx) < 1
    return horizontal >= 2 and vertical >= 2


def _cell_text(spans: list[Span], split: set[int], cell: Rect) -> str:
    """Whole spans that sit mostly in the cell; spans in ``split`` (no cell holds most of
    them: a row typed as one line) glyph by glyph."""
    lines: dict[int, list[str]] = {}
    where: dict[int, Rect] = {}
    for sp in spans:
        if id(sp) in split:
            part = _glyphs_in(sp, cell)
            if part.strip():
                lines.setdefault(sp.line, []).append(part)
                where.setdefault(sp.line, sp.bbox)
        elif overlap_ratio(sp.bbox, cell) >= 0.6:
            lines.setdefault(sp.line, []).append(sp.text)
            where.setdefault(sp.line, sp.bbox)
    # lines in reading order: a cell's words written out of order in the content stream
    # ("columnvii" before the "no" left of it on the same row) are read left to right
    order = _reading_text([(where[k], str(k)) for k in lines]).split()
    return join_lines(["".join(lines[int(k)]) for k in order])


def _glyphs_in(span: Span, cell: Rect) -> str:
    """The span's glyphs inside the cell, with a space where glyphs stand apart (TeX sets
    words without space characters)."""
    out: list[str] = []
    prev_x1: float | None = None
    for ch, b in span.chars:
        if not _center_in(b, cell):
            continue
        if prev_x1 is not None and ch != " " and b[0] - prev_x1 > 0.2 * span.size and out[-1] != " ":
            out.append(" ")
        out.append(ch)
        prev_x1 = b[2]
    return "".join(out)


def _with_header_above(page: pymupdf.Page, table, grid: TableGrid) -> TableGrid:
    """Financial-style tables rule only the body; their column heads ("Year Ended", dates)
    sit just above the first rule. Rows of short chunks right above the table, inside its
    width, become header rows, each chunk placed over the columns it overlaps."""
    x0, y0, x1, _ = table.bbox
    cols = [(min(c[0] for c in cs), max(c[2] for c in cs))
            for cs in ([r.cells[i] for r in table.rows if i < len(r.cells) and r.cells[i]] for i in range(grid.n_cols))
            if cs]
    if len(cols) != grid.n_cols:
        return grid
    all_words = page.get_text("words")
    inside = sorted(w[3] - w[1] for w in all_words if w[1] >= y0 - 1 and w[3] <= table.bbox[3] + 1
                    and w[0] >= x0 - 1 and w[2] <= x1 + 1)
    body_height = inside[len(inside) // 2] if inside else 10.0
    words = [w for w in all_words if w[3] <= y0 + 1 and w[1] >= y0 - 80]
    rows: list[list[tuple]] = []
    for w in sorted(words, key=lambda w: -w[3]):
        if rows and abs(w[3] - rows[-1][0][3]) < 2:
            rows[-1].append(w)
        else:
            rows.append([w])
    header: list[list[tuple[float, float, str]]] = []
    top = y0
    for row in rows:  # walking upwards from the table
        height = max(w[3] - w[1] for w in row)
        if top - max(w[3] for w in row) > 1.6 * height or any(w[0] < x0 - 2 or w[2] > x1 + 2 for w in row):
            break
        chunks = _chunks(sorted(row, key=lambda w: w[0]), height)
        stub_end = cols[0][1]
        if (
            sum(len(c[2]) for c in chunks) > 120
            or all(c[1] <= stub_end + 2 for c in chunks)  # the end of an introducing paragraph
            or any(c[0] < stub_end - 2 < stub_end + 2 < c[1] for c in chunks)  # text across the stub
            or height > 1.25 * body_height  # a heading set larger than the table
        ):
            break
        header.insert(0, chunks)
        top = min(w[1] for w in row)
    if not header:
        return grid
    new_cells: list[Cell] = []
    for r, chunks in enumerate(header):
        below = header[r + 1] if r + 1 < len(header) else None
        for cx0, cx1, text in chunks:
            span = [i for i, (a, b) in enumerate(cols) if min(b, cx1) - max(a, cx0) > 0.3 * min(b - a, cx1 - cx0)]
            if len(chunks) == 1 and below and len(below) > 1 and cx0 > cols[0][1]:
                # a lone head over several column heads ("Year Ended" over the dates) spans them
                lo, hi = min(c[0] for c in below), max(c[1] for c in below)
                span = [i for i, (a, b) in enumerate(cols) if min(b, hi) - max(a, lo) > 0.3 * (b - a)]
            if span:
                new_cells.append(Cell(r, span[0], text, 1, span[-1] - span[0] + 1))
    n = len(header)
    shifted = [Cell(c.row + n, c.col, c.text, c.rowspan, c.colspan) for c in grid.cells]
    return TableGrid((x0, top, x1, grid.bbox[3]), _fill_gaps(new_cells, n, grid.n_cols) + shifted,
                     grid.n_rows + n, grid.n_cols)


def _chunks(words: list[tuple], height: float) -> list[tuple[float, float, str]]:
    out: list[list] = []
    for w in words:
        if out and w[0] - out[-1][1] < 0.8 * height:
            out[-1][1] = w[2]
            out[-1][2] += " " + w[4]
        else:
            out.append([w[0], w[2], w[4]])
    return [(a, b, t) for a, b, t in out]


def _fill_gaps(cells: list[Cell], n_rows: int, n_cols: int) -> list[Cell]:
    """Empty cells where header rows have no chunk, so every row keeps its column count."""
    taken = {(c.row, c.col + k) for c in cells for k in range(c.colspan)}
    out = list(cells)
    for r in range(n_rows):
        out.extend(Cell(r, c, "") for c in range(n_cols) if (r, c) not in taken)
    return sorted(out, key=lambda c: (c.row, c.col))


# ------------------------------------------------------------------ page images
def detect_rulings(gray: np.ndarray, to_page: float, text_height_px: float) -> tuple[Segments, np.ndarray]:
    """Horizontal/vertical ruling lines (long thin ink runs), and the image with them painted
    white: Tesseract reads cell text much better without the grid glued to it."""
    h, w = gray.shape
    # vertical rules must be taller than letters (an "l" or "|" is one text height)
    vlen = max(15, int(text_height_px * 2.2), h // 120)
    horizontal, vertical = rule_segments(gray, max(20, w // 35), vlen, max(8.0, text_height_px * 0.5))
    k = to_page
    segs = Segments(
        [(s.x0 * k, s.y0 * k, s.x1 * k, s.y1 * k) for s in horizontal],
        [(s.x0 * k, s.y0 * k, s.x1 * k, s.y1 * k) for s in vertical],
    )
    return segs, erase(gray, horizontal + vertical)


def find_ocr_tables(
    segs: Segments,
    width: float,
    height: float,
    words: list[tuple[Rect, str]],
    fill: list[tuple[Rect, str]] | None = None,
) -> list[TableGrid]:
    """Ruled tables on a page image: the rulings are drawn on a scratch PDF page so
    PyMuPDF's own grid finder builds the cells (it wants text in them: ``words`` are
    placed as placeholder glyphs), then the ``fill`` words (default ``words``) fill them."""
    fill = words if fill is None else fill
    if len(segs.horizontal) < 2 or not segs.vertical:
        return []
    scratch = pymupdf.open()
    try:
        page = scratch.new_page(width=width, height=height)
        # one shape, committed once: a commit per line or glyph rewrote the page's content
        # stream each time (0.4 s on a page of 500 words)
        shape = page.new_shape()
        for x0, y0, x1, y1 in segs.horizontal:
            shape.draw_line(pymupdf.Point(x0, (y0 + y1) / 2), pymupdf.Point(x1, (y0 + y1) / 2))
            shape.finish(width=0.5, closePath=False)  # one path per rule, as draw_line makes
        for x0, y0, x1, y1 in segs.vertical:
            shape.draw_line(pymupdf.Point((x0 + x1) / 2, y0), pymupdf.Point((x0 + x1) / 2, y1))
            shape.finish(width=0.5, closePath=False)
        ruled = union([*segs.horizontal, *segs.vertical])
        for (x0, y0, x1, y1), _ in words:
            # placeholder glyphs: the grid finder wants text in cells; real text comes from OCR
            if x1 >= ruled[0] and x0 <= ruled[2] and y1 >= ruled[1] and y0 <= ruled[3]:
                shape.insert_text(pymupdf.Point(x0, y1), "x", fontsize=max(1.0, (y1 - y0) * 0.5))
        shape.commit()
        found = page.find_tables(strategy="lines")
        grids: list[TableGrid] = []
        for table in found.tables:

            def text_of(_r: int, _c: int, bbox: Rect) -> str:
                return _reading_text([(wb, t) for wb, t in fill if _center_in(wb, bbox)])

            grid = grid_from_table(table, text_of)
            if _plausible(grid):
                grids.append(grid)
        return grids
    finally:
        scratch.close()


def _center_in(inner: Rect, outer: Rect) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def _reading_text(words: list[tuple[Rect, str]]) -> str:
    """Words of one cell in reading order: rows by vertical position, then left to right."""
    rows: list[list[tuple[Rect, str]]] = []
    for wb, t in sorted(words, key=lambda it: (it[0][1] + it[0][3]) / 2):
        cy, h = (wb[1] + wb[3]) / 2, wb[3] - wb[1]
        if rows and abs(cy - (rows[-1][0][0][1] + rows[-1][0][0][3]) / 2) < 0.5 * h:
            rows[-1].append((wb, t))
        else:
            rows.append([(wb, t)])
    return " ".join(t for row in rows for _, t in sorted(row, key=lambda it: it[0][0]))


@dataclass
class CellMosaic:
    """Cell images stacked one under another, so one OCR call reads every cell on its own:
    a table read as a page mixes up the lines of neighbouring multi-line cells."""

    image: np.ndarray
    spans: list[tuple[int, int, Cell]]  # mosaic rows [y0, y1) holding each cell


def cell_mosaic(gray: np.ndarray, to_page: float, grid: TableGrid, gap: int) -> CellMosaic | None:
    h, w = gray.shape
    crops: list[tuple[np.ndarray, Cell]] = []
    for cell in grid.cells:
        if cell.bbox is None:
            continue
        x0, y0 = max(0, int(cell.bbox[0] / to_page) + 2), max(0, int(cell.bbox[1] / to_page) + 2)
        x1, y1 = min(w, int(cell.bbox[2] / to_page) - 2), min(h, int(cell.bbox[3] / to_page) - 2)
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        crop = gray[y0:y1, x0:x1]
        if np.count_nonzero(crop < 128) < 8:
            continue  # an empty cell: nothing to read
        crops.append((crop, cell))
    if not crops:
        return None
    return CellMosaic(*stack(crops, gap))


def fill_from_mosaic(mosaic: CellMosaic, words: list[tuple[Rect, str]]) -> None:
    """Replace each mosaic cell's text with the words read inside its strip."""
    for y0, y1, cell in mosaic.spans:
        inside = [(b, t) for b, t in words if y0 <= (b[1] + b[3]) / 2 < y1]
        cell.text = _reading_text(inside)
