"""A table block's HTML -> its cells on the table's grid. Engine-independent (stdlib ``html.parser``)."""

from __future__ import annotations

from html.parser import HTMLParser

from processor.document import TableCell

_BREAKS = frozenset({"br", "p", "div", "li", "tr", "td", "th", "table"})  # tags that part words inside a cell
_MAX_SPAN = 1000  # HTML caps colspan at 1000 and rowspan at 65534; a runaway span is clamped


class _Cells(HTMLParser):
    """Collects the rows of the first ``<table>`` (a table nested in a cell stays that cell's text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[tuple[int, int, bool, list[str]]]] = []  # (rowspan, colspan, th, text parts)
        self.depth = 0  # <table> nesting
        self.done = False
        self.cell: tuple[int, int, bool, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self._close_cell()
            self.rows.append([])
        elif self.depth == 1 and tag in ("td", "th"):
            self._close_cell()
            if not self.rows:
                self.rows.append([])
            spans = dict(attrs)
            self.cell = (_span(spans.get("rowspan")), _span(spans.get("colspan")), tag == "th", [])
            self.rows[-1].append(self.cell)
        elif tag in _BREAKS and self.cell is not None:
            self.cell[3].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.done:
            return
        if tag in _BREAKS and self.cell is not None:
            self.cell[3].append(" ")
        if tag == "table":
            self.depth -= 1
            if self.depth == 0:
                self._close_cell()
                self.done = True
        elif self.depth == 1 and tag in ("td", "th", "tr"):
            self._close_cell()

    def handle_data(self, data: str) -> None:
        if self.cell is not None and self.depth >= 1:
            self.cell[3].append(data)

    def _close_cell(self) -> None:
        self.cell = None


def _span(value: str | None) -> int:
    try:
        return min(max(int((value or "1").strip()), 1), _MAX_SPAN)
    except ValueError:
        return 1


def table_cells(html: str) -> list[TableCell] | None:
    """The cells of the first table in ``html`` with their grid positions: each row's cells take
    the next columns not covered by a rowspan from a row above; ``rowspan``/``colspan`` are kept.
    None when ``html`` holds no table cells (a table continued from the previous page: '')."""
    parser = _Cells()
    parser.feed(html or "")
    parser.close()
    taken: set[tuple[int, int]] = set()  # grid slots covered by cells placed so far
    cells: list[TableCell] = []
    for r, row in enumerate(parser.rows):
        col = 0
        for row_span, col_span, header, parts in row:
            row_span = min(row_span, len(parser.rows) - r)  # as HTML does: a rowspan ends with the table
            while (r, col) in taken:
                col += 1
            for dr in range(row_span):
                for dc in range(col_span):
                    taken.add((r + dr, col + dc))
            text = " ".join("".join(parts).split())
            cells.append(TableCell(row=r, col=col, row_span=row_span, col_span=col_span, header=header, text=text))
            col += col_span
    return cells or None
