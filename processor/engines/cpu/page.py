"""One page, start to finish: blank test, text layer or OCR, tables, figures, structure.

Runs inside a worker process; everything it needs arrives as a ``PageTask``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pymupdf

from processor.document import Asset, BlockType, Page, PageMethod, PageStatus, PageUnit
from processor.engines.base import PageResult
from processor.engines.cpu.agreement import distrust_disagreeing_fonts
from processor.engines.cpu.figures import crop_figures, vector_and_image_figures
from processor.engines.cpu.languages import reads_poorly, reread_low_lines
from processor.engines.cpu.layout_model import detect
from processor.engines.cpu.shading import banded_tables, find_bands, group_rect, read_bands
from processor.engines.cpu.unruled import booktabs_regions, grid_from_words
from processor.engines.cpu.layout import (
    FURNITURE_BAND,
    PageGeometry,
    PlacedBlock,
    classify,
    in_reading_order,
    overlap_ratio,
    signature,
    to_blocks,
)
from processor.engines.cpu.ocr import (
    fix_scripts,
    is_blank,
    native_pixel_size,
    render,
    run_tesseract,
    unturn_box,
    upright,
    words_to_blocks,
)
from processor.engines.cpu.orientation import upright_turn
from processor.engines.cpu.raster import glyph_height
from processor.engines.cpu.tables import (
    TableGrid,
    cell_mosaic,
    detect_rulings,
    fill_from_mosaic,
    find_ocr_tables,
    find_tables,
    grid_html,
)
from processor.engines.cpu.regions import reocr_untrusted
from processor.font_trust import DISTRUSTED
from processor.engines.cpu.table_model import table_html
from processor.engines.cpu.text_blocks import table_spans, text_blocks
from processor.text_layer import TEXT_FLAGS, judge_text_layer, read_rawdict
from processor.errors import error_info
from processor.options import CpuEngineOptions



@dataclass(frozen=True)
class PageTask:
    index: int  # 0-based
    is_image: bool
    cpu: CpuEngineOptions  # languages, OCR DPI, force_ocr: as the engine was given them
    figure_dpi: int
    furniture_signatures: frozenset[str] = field(default_factory=frozenset)
    # languages a full-page OCR read tries first, from the document's pages so far
    # (``languages.ScriptTally``); a page that reads poorly with them is read with ocr_languages
    ocr_hint: str | None = None


def process_page(doc: pymupdf.Document, task: PageTask) -> PageResult:
    """Never raises: a failing page comes back with status FAILED and the error."""
    t0 = time.perf_counter()
    number = task.index + 1
    try:
        page = doc[task.index]
        result = convert_page(page, task)
    except Exception as exc:  # one bad page must not sink the document
        result = PageResult(
            Page(number=number, width=0, height=0, unit=_unit(task), status=PageStatus.FAILED,
                 error=error_info(exc))
        )
    result.page.seconds = round(time.perf_counter() - t0, 4)
    return result


def _unit(task: PageTask) -> PageUnit:
    return PageUnit.PIXEL if task.is_image else PageUnit.POINT


def convert_page(page: pymupdf.Page, task: PageTask) -> PageResult:
    number = page.number + 1
    if task.is_image:
        width, height = native_pixel_size(page) or (page.rect.width, page.rect.height)
    else:
        width, height = page.rect.width, page.rect.height
    base = {"number": number, "width": width, "height": height, "unit": _unit(task)}
    text = "" if task.is_image else page.get_text("text", flags=TEXT_FLAGS)
    if not text.strip() and is_blank(page):
        return PageResult(Page(**base, method=PageMethod.BLANK))
    geo = PageGeometry(width=width, height=height, furniture_signatures=task.furniture_signatures)
    data = read_rawdict(page) if not task.is_image and len(text.strip()) >= 20 else None
    verdict = judge_text_layer(page, text, data) if not task.is_image else None
    doubted: list[str] = []
    if verdict and verdict.usable and not task.cpu.force_ocr and data is not None:
        # suspect text that passed the character checks: OCR a sample of it, once
        doubted = distrust_disagreeing_fonts(page, data, task.cpu.ocr_dpi, task.cpu.ocr_languages)
        if doubted:
            verdict = judge_text_layer(page, text, data)
    if verdict and verdict.usable and not task.cpu.force_ocr:
        placed, assets = _text_layer_page(page, geo, task, data)
        raw = {"reason": verdict.reason, "chars": verdict.chars}
        if doubted:
            raw["ocr_disagreed_fonts"] = doubted
        return PageResult(Page(**base, method=PageMethod.TEXT_LAYER, blocks=to_blocks(placed), raw=raw), assets)
    raw = {"reason": verdict.reason if verdict else "page image"}
    placed = _ocr_page(page, geo, task, raw)
    # figure crops come from the page itself (in colour); page images measure in pixels
    assets = crop_figures(page, placed, task.figure_dpi, page.rect.width / width)
    return PageResult(Page(**base, method=PageMethod.OCR, blocks=to_blocks(placed), raw=raw), assets)


def _text_layer_page(page: pymupdf.Page, geo: PageGeometry, task: PageTask,
                     data: dict | None) -> tuple[list[PlacedBlock], list[Asset]]:
    # A /Rotate'd page is laid out in the frame where its text runs left to right (and where
    # the table finder works). Mostly that is its unrotated space, and boxes are turned into
    # the shown page's space after; a page whose content was drawn turned, so that /Rotate
    # sets it upright (slides exported in portrait), is laid out on an upright copy instead.
    rotation = page.rotation
    turn = _text_direction(page)
    distrusted = tuple(data.get(DISTRUSTED, ())) if data else ()  # kept when the page is read again
    if rotation and turn:
        # the page alone, unrotated, drawn turned onto an upright page (two scratch PDFs:
        # a page cannot show a page of its own document)
        with pymupdf.open() as single, pymupdf.open() as scratch:
            single.insert_pdf(page.parent, from_page=page.number, to_page=page.number)
            flat = single[0]
            flat.set_rotation(0)
            w, h = (flat.rect.height, flat.rect.width) if turn in (90, 270) else (flat.rect.width, flat.rect.height)
            upright_page = scratch.new_page(width=w, height=h)
            upright_page.show_pdf_page(upright_page.rect, single, 0, rotate=turn)
            placed = _lay_out(upright_page, geo, task, first_page=page.number == 0, distrusted=distrusted)
            return placed, crop_figures(page, placed, task.figure_dpi, 1.0)
    if rotation:
        page.set_rotation(0)
        geo = PageGeometry(page.rect.width, page.rect.height, geo.furniture_signatures)
    try:
        # the text read for the verdict is reused unless the page was turned for layout
        placed = _lay_out(page, geo, task, first_page=page.number == 0, data=None if rotation else data,
                          distrusted=distrusted)
    finally:
        if rotation:
            page.set_rotation(rotation)
    if rotation:
        m = page.rotation_matrix
        for pb in placed:
            pb.bbox = tuple((pymupdf.Rect(pb.bbox) * m).normalize())
    return placed, crop_figures(page, placed, task.figure_dpi, 1.0)


def _text_direction(page: pymupdf.Page) -> int:
    """The direction most characters run in the page's unrotated space, in degrees (0: left
    to right, 90: top to bottom, ...): the turn that sets the text upright."""
    counts: dict[int, int] = {}
    for b in page.get_text("dict", flags=TEXT_FLAGS)["blocks"]:
        for ln in b.get("lines", []):
            dx, dy = ln["dir"]
            angle = 0 if dx > 0.7 else 90 if dy > 0.7 else 180 if dx < -0.7 else 270 if dy < -0.7 else 0
            counts[angle] = counts.get(angle, 0) + sum(len(sp["text"]) for sp in ln["spans"])
    return max(counts, key=lambda a: counts[a]) if counts else 0


def _lay_out(page: pymupdf.Page, geo: PageGeometry, task: PageTask, first_page: bool,
             data: dict | None = None, distrusted: tuple[str, ...] = ()) -> list[PlacedBlock]:
    if data is None:
        data = read_rawdict(page)
        data[DISTRUSTED] = list(distrusted)
    tables = find_tables(page, table_spans(data))
    table_rects = [t.bbox for t in tables]
    blocks = text_blocks(page, exclude=table_rects, data=data)
    blocks = reocr_untrusted(page, blocks, task.cpu.ocr_dpi, task.cpu.ocr_languages)
    placed = classify(blocks, geo, first_page=first_page)
    placed.extend(PlacedBlock(BlockType.TABLE, t.bbox, html=grid_html(t)) for t in tables)
    placed.extend(vector_and_image_figures(page, table_rects))
    return in_reading_order(placed, geo.width)


def _ocr_page(page: pymupdf.Page, geo: PageGeometry, task: PageTask, raw: dict) -> list[PlacedBlock]:
    image = render(page, task.cpu.ocr_dpi, task.is_image)
    gray = image.gray
    # A page the orientation model sees turned is set upright before it is read (once); one
    # it cannot judge is read as it is, and turned after only if OCR reads garbage there (a
    # handwritten page the model knows is upright is not read a second time for that).
    judged = upright_turn(gray)
    turn = judged or 0
    if turn:
        gray = np.ascontiguousarray(np.rot90(gray, {90: -1, 180: 2, 270: 1}[turn]))
    # The full page is read with its rulings in place: Tesseract uses them to find columns.
    languages = task.ocr_hint or task.cpu.ocr_languages
    words = run_tesseract(gray, image.to_page, languages, dpi=image.dpi)
    if task.ocr_hint and reads_poorly(words):  # another script after all: every language
        languages = task.cpu.ocr_languages
        words = run_tesseract(gray, image.to_page, languages, dpi=image.dpi)
    elif task.ocr_hint:  # a line in another script on a page of the hinted one
        words = reread_low_lines(gray, words, image.to_page, task.cpu.ocr_languages)
    raw["ocr_languages"] = languages
    if judged is None:
        gray, words, turn = upright(gray, words, image.to_page, languages, image.dpi)
    if turn in (90, 270):  # the page is laid out in the turned frame from here on
        geo = PageGeometry(geo.height, geo.width, geo.furniture_signatures)
    fix_scripts(words)
    glyph = glyph_height(gray)
    banded = banded_tables(find_bands(gray, glyph), glyph)
    if banded:  # shaded table rows: read again, each band on its own and inverted when dark
        k = image.to_page
        bands = [b for group in banded for b in group]
        band_rects = [(b.x0 * k, b.y0 * k, b.x1 * k, b.y1 * k) for b in bands]
        words = [w for w in words if not any(overlap_ratio(w.bbox, r) > 0.5 for r in band_rects)]
        words += read_bands(gray, bands, k, languages)
    rulings, cleaned = detect_rulings(gray, image.to_page, glyph)
    boxes = [(w.bbox, w.text) for w in words]
    tables = find_ocr_tables(rulings, geo.width, geo.height, boxes)
    # Cell text is read again from the table alone with the rulings erased: glyphs
    # touching a rule are misread, and the page-level segmentation mixes cells up.
    for table in tables:
        _reread_cells(cleaned, image.to_page, table, languages)
    regions = detect(gray, image.to_page)
    candidates = [r.bbox for r in regions if r.label == "table"]
    candidates += booktabs_regions(rulings.horizontal, rulings.vertical, geo.height)
    candidates += [group_rect(g, image.to_page) for g in banded]
    modelled: list[tuple[tuple[float, float, float, float], str]] = []  # (bbox, html) from SLANet
    for region in candidates:
        taken = [t.bbox for t in tables] + [bbox for bbox, _ in modelled]
        if any(overlap_ratio(region, t) > 0.3 or overlap_ratio(t, region) > 0.3 for t in taken):
            continue
        grid = grid_from_words(boxes, region)
        if grid is not None:
            tables.append(grid)
            continue
        html = table_html(gray, image.to_page, region, boxes)  # no grid of our own: the model's
        if html is not None:
            modelled.append((region, html))
    table_boxes = [t.bbox for t in tables] + [bbox for bbox, _ in modelled]
    if table_boxes:
        words = [w for w in words if not any(overlap_ratio(w.bbox, t) > 0.5 for t in table_boxes)]
    titles = [r.bbox for r in regions if r.label == "title"]
    # a figure is a crop added beside the text: words inside it stay text either way
    pictures = [r.bbox for r in regions if r.label == "figure"
                and not any(overlap_ratio(t, r.bbox) > 0.5 for t in table_boxes)]
    placed = classify(words_to_blocks(words, pictures), geo, first_page=page.number == 0, titles=titles)
    placed.extend(PlacedBlock(BlockType.TABLE, t.bbox, html=grid_html(t)) for t in tables)
    placed.extend(PlacedBlock(BlockType.TABLE, bbox, html=html) for bbox, html in modelled)
    placed.extend(PlacedBlock(BlockType.FIGURE, r) for r in pictures)
    placed = in_reading_order(placed, geo.width)
    if turn:
        for pb in placed:  # boxes back into the page's own (unturned) coordinates
            pb.bbox = unturn_box(pb.bbox, turn, geo.width, geo.height)
    return placed


def _reread_cells(gray, to_page: float, table: TableGrid, languages: str) -> None:
    """Cell text again, from the rulings-free image, every cell on its own (one OCR call)."""
    gap = max(12, int(glyph_height(gray)))
    mosaic = cell_mosaic(gray, to_page, table, gap)
    if mosaic is None:
        return
    words = run_tesseract(mosaic.image, 1.0, languages, psm=6)
    fix_scripts(words)
    fill_from_mosaic(mosaic, [(w.bbox, w.text) for w in words])


def repeated_signatures(doc: pymupdf.Document, sample: int = 12) -> frozenset[str]:
    """Running heads/feet: short lines in the top or bottom band that recur (page numbers
    masked) on several sampled pages. Cheap: text-layer only, a dozen pages at most."""
    n = doc.page_count
    if n < 3:
        return frozenset()
    step = max(1, n // sample)
    counts: dict[str, int] = {}
    seen = 0
    for i in range(0, n, step):
        page = doc[i]
        h = page.rect.height
        sigs = set()
        for b in page.get_text("blocks", flags=TEXT_FLAGS):
            if b[6] != 0 or len(b[4]) > 160:
                continue
            if b[3] <= h * FURNITURE_BAND * 1.3 or b[1] >= h * (1 - FURNITURE_BAND * 1.3):
                sigs.add(signature(b[4]))
        for s in sigs:
            counts[s] = counts.get(s, 0) + 1
        seen += 1
        if seen >= sample:
            break
    need = max(2, seen // 3)
    return frozenset(s for s, c in counts.items() if c >= need and s.strip("# "))
