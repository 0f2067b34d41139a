"""The table finders of a page image, as candidates the page's check can weigh against each
other (``fallbacks.keep_tables``): ruled grids (cells read again with the rulings erased), grids
from the words' columns, and the table model's structure."""

from __future__ import annotations

from processor.engines.cpu.fallbacks import TableCandidate
from processor.engines.cpu.layout import Rect, overlap_ratio
from processor.engines.cpu.ocr import fix_scripts, mean_confidence, run_tesseract
from processor.engines.cpu.raster import glyph_height
from processor.engines.cpu.table_model import table_html
from processor.engines.cpu.tables import TableGrid, cell_mosaic, fill_from_mosaic, grid_cells, grid_html
from processor.engines.cpu.unruled import grid_from_words


def words_confidence(words: list, box: Rect) -> float | None:
    """A table on a page image: the mean confidence of Tesseract's words inside it, 0..1."""
    inside_box = [w for w in words if overlap_ratio(w.bbox, box) > 0.5]
    return mean_confidence(inside_box) / 100 if inside_box else None


class TableFinders:
    """The table finders of an OCR page, each giving ``TableCandidate``s for a region, so a
    table that loses its words can give way to another finder's (``fallbacks.keep_tables``)."""

    def __init__(self, gray, cleaned, to_page: float, languages: str, boxes: list[tuple[Rect, str]]):
        self.gray, self.cleaned, self.to_page, self.languages, self.boxes = gray, cleaned, to_page, languages, boxes

    def ruled(self, grids: list[TableGrid]) -> list[TableCandidate]:
        # Cell text is read again from the table alone with the rulings erased: glyphs
        # touching a rule are misread, and the page-level segmentation mixes cells up.
        for grid in grids:
            self._reread_cells(grid)
        return [TableCandidate(g.bbox, grid_html(g), "ruled grid", grid_cells(g)) for g in grids]

    def unruled(self, region: Rect, skip: str = "") -> list[TableCandidate]:
        """The word-column grid for ``region`` or, with no grid of our own, the model's table."""
        if skip != "word columns":
            grid = grid_from_words(self.boxes, region)
            if grid is not None:
                return [TableCandidate(grid.bbox, grid_html(grid), "word columns", grid_cells(grid))]
        if skip != "table model":
            html = table_html(self.gray, self.to_page, region, self.boxes)
            if html is not None:
                return [TableCandidate(region, html, "table model")]
        return []

    def others(self, candidate: TableCandidate) -> list[TableCandidate]:
        return self.unruled(candidate.bbox, skip=candidate.finder)

    def _reread_cells(self, table: TableGrid) -> None:
        """Cell text again, from the rulings-free image, every cell on its own (one OCR call)."""
        gap = max(12, int(glyph_height(self.cleaned)))
        mosaic = cell_mosaic(self.cleaned, self.to_page, table, gap)
        if mosaic is None:
            return
        words = run_tesseract(mosaic.image, 1.0, self.languages, psm=6)
        fix_scripts(words)
        fill_from_mosaic(mosaic, [(w.bbox, w.text) for w in words])
