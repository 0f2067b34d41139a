"""One page, start to finish: blank test, text layer or OCR, tables, figures, structure.

Runs inside a worker process; everything it needs arrives as a ``PageTask``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pymupdf

from processor.document import Asset, BlockType, Fallback, Page, PageMethod, PageStatus, PageUnit
from processor.engines.base import PageResult
from processor.engines.cpu.agreement import distrust_disagreeing_fonts
from processor.engines.cpu.fallbacks import (
    TableCandidate,
    in_plain_order,
    keep_plain_order,
    keep_tables,
    keep_text,
    layer_read_by_ocr,
    layer_replaced,
    page_check,
    plain_order_within,
)
from processor.engines.cpu.figures import crop_figures, vector_and_image_figures
from processor.engines.cpu.languages import reads_poorly, reread_low_lines
from processor.engines.cpu.layout_model import detect
from processor.engines.cpu.shading import banded_tables, find_bands, group_rect, read_bands
from processor.engines.cpu.unruled import booktabs_regions
from processor.engines.cpu.layout import (
    FURNITURE_BAND,
    PageGeometry,
    PlacedBlock,
    Rect,
    TextBlock,
    classify,
    in_reading_order,
    overlap_ratio,
    signature,
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
from processor.engines.cpu.plain_read import centred_in, plain_words
from processor.engines.cpu.raster import glyph_height
from processor.engines.cpu.tables import (
    detect_rulings,
    find_ocr_tables,
    find_tables,
    grid_cells,
    grid_html,
)
from processor.engines.cpu.regions import reocr_untrusted
from processor.font_trust import BLOCK_UNTRUSTED_SHARE, DISTRUSTED
from processor.engines.cpu.ocr_tables import TableFinders, words_confidence
from processor.engines.cpu.to_document import bbox_of, to_blocks
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
    lines: bool = False  # blocks carry their text lines and words (document.lines)
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
    fallbacks: list[Fallback] = []
    if verdict and verdict.usable and not task.cpu.force_ocr:
        raw = {"reason": verdict.reason, "chars": verdict.chars}
        placed, assets = _text_layer_page(page, geo, task, data, raw, fallbacks)
        if doubted:
            raw["ocr_disagreed_fonts"] = doubted
        blocks = to_blocks(placed, lines=task.lines)
        return PageResult(Page(**base, method=PageMethod.TEXT_LAYER, blocks=blocks, raw=raw, fallbacks=fallbacks),
                          assets)
    raw = {"reason": verdict.reason if verdict else "page image"}
    placed = _ocr_page(page, geo, task, raw, fallbacks)
    if data is not None and not task.cpu.force_ocr:  # a text layer, judged unsound: the whole page by OCR
        fallbacks.insert(0, layer_replaced(text, placed, raw["reason"]))
    # figure crops come from the page itself (in colour); page images measure in pixels
    assets = crop_figures(page, placed, task.figure_dpi, page.rect.width / width)
    return PageResult(Page(**base, method=PageMethod.OCR, blocks=to_blocks(placed, lines=task.lines), raw=raw,
                           fallbacks=fallbacks), assets)


def _text_layer_page(page: pymupdf.Page, geo: PageGeometry, task: PageTask, data: dict | None, raw: dict,
                     fallbacks: list[Fallback]) -> tuple[list[PlacedBlock], list[Asset]]:
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
            placed = _lay_out(upright_page, geo, task, page.number == 0, raw, fallbacks, distrusted=distrusted)
            return placed, crop_figures(page, placed, task.figure_dpi, 1.0)
    if rotation:
        page.set_rotation(0)
        geo = PageGeometry(page.rect.width, page.rect.height, geo.furniture_signatures)
    try:
        # the text read for the verdict is reused unless the page was turned for layout
        placed = _lay_out(page, geo, task, page.number == 0, raw, fallbacks, data=None if rotation else data,
                          distrusted=distrusted)
    finally:
        if rotation:
            page.set_rotation(rotation)
    if rotation:
        m = page.rotation_matrix
        move_boxes(placed, lambda box: tuple((pymupdf.Rect(box) * m).normalize()))
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


def _lay_out(page: pymupdf.Page, geo: PageGeometry, task: PageTask, first_page: bool, raw: dict,
             fallbacks: list[Fallback], data: dict | None = None, distrusted: tuple[str, ...] = ()) -> list[PlacedBlock]:
    if data is None:
        data = read_rawdict(page)
        data[DISTRUSTED] = list(distrusted)
    # the plain read: the layer's words in extraction order
    plain = plain_words((w[4], tuple(w[:4]), (w[5], w[6])) for w in page.get_text("words", flags=TEXT_FLAGS))
    tables = [TableCandidate(t.bbox, grid_html(t), "ruled grid", grid_cells(t))
              for t in find_tables(page, table_spans(data))]
    tables = keep_tables(tables, plain, lambda _: [], fallbacks)
    table_rects = [t.bbox for t in tables]
    blocks = text_blocks(page, exclude=table_rects, data=data)
    # words of untrusted regions are read by OCR: the layer's letters there are no reference
    unsound = [b.bbox for b in blocks if b.untrusted_share > BLOCK_UNTRUSTED_SHARE]
    plain = [w for w in plain if not any(centred_in(w.bbox, box) for box in unsound)]
    reread: list[tuple[TextBlock, TextBlock | None]] = []
    blocks = reocr_untrusted(page, blocks, task.cpu.ocr_dpi, task.cpu.ocr_languages, reread)
    if reread:
        fallbacks.append(layer_read_by_ocr(reread, data.get(DISTRUSTED, ())))
    placed = classify(blocks, geo, first_page=first_page)
    placed.extend(PlacedBlock(BlockType.TABLE, t.bbox, html=t.html, confidence=1.0, cells=t.cells) for t in tables)
    placed.extend(vector_and_image_figures(page, table_rects))
    placed = in_reading_order(placed, geo.width)

    def plain_page() -> list[PlacedBlock]:  # the layer's blocks with no tables, in extraction order
        blocks = reocr_untrusted(page, text_blocks(page, exclude=[], data=data), task.cpu.ocr_dpi, task.cpu.ocr_languages)
        return in_plain_order(classify(blocks, geo, first_page=first_page), plain)

    placed = keep_text(placed, plain, plain_page, fallbacks)
    placed = keep_plain_order(placed, plain, fallbacks, by_region=True)
    raw["plain_read"] = page_check(placed, plain)
    return placed


def _ocr_page(page: pymupdf.Page, geo: PageGeometry, task: PageTask, raw: dict,
              fallbacks: list[Fallback]) -> list[PlacedBlock]:
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
    first_pass = list(words)  # Tesseract's own reading of the page: what every stage is checked against
    plain = plain_words((w.text, w.bbox, (w.block, w.par, w.line)) for w in words)
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
    regions = detect(gray, image.to_page)
    finders = TableFinders(gray, cleaned, image.to_page, languages, boxes)
    tables = finders.ruled(find_ocr_tables(rulings, geo.width, geo.height, boxes))
    candidates = [r.bbox for r in regions if r.label == "table"]
    candidates += booktabs_regions(rulings.horizontal, rulings.vertical, geo.height)
    candidates += [group_rect(g, image.to_page) for g in banded]
    for region in candidates:
        if any(overlap_ratio(region, t.bbox) > 0.3 or overlap_ratio(t.bbox, region) > 0.3 for t in tables):
            continue
        found = next(iter(finders.unruled(region)), None)
        if found is not None:
            tables.append(found)
    undone: list[Rect] = []
    tables = keep_tables(tables, plain, finders.others, fallbacks, undone)
    table_boxes = [t.bbox for t in tables]
    if table_boxes:
        words = [w for w in words if not any(overlap_ratio(w.bbox, t) > 0.5 for t in table_boxes)]
    titles = [r.bbox for r in regions if r.label == "title"]
    # a figure is a crop added beside the text: words inside it stay text either way
    pictures = [r for r in regions if r.label == "figure"
                and not any(overlap_ratio(t, r.bbox) > 0.5 for t in table_boxes)]
    first_page = page.number == 0
    placed = classify(words_to_blocks(words, [r.bbox for r in pictures]), geo, first_page=first_page, titles=titles)
    placed.extend(PlacedBlock(BlockType.TABLE, t.bbox, html=t.html, cells=t.cells,
                              confidence=words_confidence(first_pass, t.bbox)) for t in tables)
    placed.extend(PlacedBlock(BlockType.FIGURE, r.bbox, confidence=r.score) for r in pictures)
    placed = plain_order_within(in_reading_order(placed, geo.width), plain, undone)

    def plain_page() -> list[PlacedBlock]:  # Tesseract's paragraphs, in its order, typed
        blocks = classify(words_to_blocks(first_pass, [r.bbox for r in pictures]), geo, first_page=first_page,
                          titles=titles)
        return in_plain_order(blocks + [PlacedBlock(BlockType.FIGURE, r.bbox, confidence=r.score) for r in pictures],
                              plain)

    placed = keep_text(placed, plain, plain_page, fallbacks)
    placed = keep_plain_order(placed, plain, fallbacks)
    raw["plain_read"] = page_check(placed, plain)
    if turn:  # boxes back into the page's own (unturned) coordinates
        move_boxes(placed, lambda box: unturn_box(box, turn, geo.width, geo.height))
    return placed


def astuple(box) -> Rect:
    return (box.x0, box.y0, box.x1, box.y1)


def move_boxes(placed: list[PlacedBlock], move) -> None:
    """Every box of ``placed`` (blocks, table cells, lines, the lines' words) through ``move``, once."""
    done: set[int] = set()
    for pb in placed:
        pb.bbox = move(pb.bbox)
        if pb.cells:
            pb.cells = [cell.model_copy(update={"bbox": bbox_of(move(astuple(cell.bbox)))}) if cell.bbox else cell
                        for cell in pb.cells]
        for ln in pb.lines or ():
            if id(ln) in done:
                continue
            done.add(id(ln))
            ln.bbox = move(ln.bbox)
            if ln.words:
                ln.words = [(text, move(box), conf) for text, box, conf in ln.words]


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
