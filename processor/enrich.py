"""The document step every converted page goes through, whatever the engine: block ids, table
cells from the table's HTML, captions linked to their figure or table, and lines kept only when
asked for. Runs in ``processor.convert`` on each page as the engine yields it (so in the daemon's
engine child too, before the page is sent and checkpointed)."""

from __future__ import annotations

import re

from processor.document import BBox, Block, BlockType, Page
from processor.options import ConvertOptions
from processor.table_cells import table_cells

CAPTIONED = frozenset({BlockType.FIGURE, BlockType.CHART, BlockType.TABLE})
MAX_CAPTION_GAP = 0.2  # of the page height: a caption further from every figure/table belongs to none
# a caption naming what it captions ("Table 2.", "Рис. 3") prefers that kind when both are near
_NAMES_TABLE = re.compile(r"^\s*(table|tab\.|таблица|табл\.)", re.IGNORECASE)
_NAMES_PICTURE = re.compile(r"^\s*(figure|fig\.|chart|рис\.|рисунок|схема|диаграмма)", re.IGNORECASE)


def enrich_page(page: Page, options: ConvertOptions) -> Page:
    """A copy of ``page`` with every block's ``id``, tables' ``cells`` (where the engine gave none),
    captions' ``caption_of``, and ``lines`` dropped unless ``options.document.lines``."""
    if not page.blocks:
        return page
    keep_lines = options.document.lines
    blocks: list[Block] = []
    for index, block in enumerate(page.blocks):
        update: dict = {"id": f"p{page.number}-b{index}"}
        if block.type is BlockType.TABLE and block.cells is None and block.html:
            update["cells"] = table_cells(block.html)
        if not keep_lines and block.lines is not None:
            update["lines"] = None
        blocks.append(block.model_copy(update=update))
    targets = [b for b in blocks if b.type in CAPTIONED]
    for i, block in enumerate(blocks):
        if block.type is BlockType.CAPTION and block.caption_of is None:
            target = captioned_by(block, targets, page.height)
            if target is not None:
                blocks[i] = block.model_copy(update={"caption_of": target.id})
    return page.model_copy(update={"blocks": blocks})


def captioned_by(caption: Block, targets: list[Block], page_height: float) -> Block | None:
    """The figure/chart/table ``caption`` belongs to: of those overlapping it horizontally, the
    one with the smallest vertical gap (caption above or below; overlapping boxes: gap 0), within
    ``MAX_CAPTION_GAP`` of the page height. Ties go to the one whose centre is nearer. A caption
    that names its kind ("Table 1:", "Рис. 2") looks at that kind first."""
    text = caption.text or ""
    kind = ({BlockType.TABLE} if _NAMES_TABLE.match(text) else
            {BlockType.FIGURE, BlockType.CHART} if _NAMES_PICTURE.match(text) else None)  # fmt: skip
    if kind is not None:
        named = _nearest(caption, [t for t in targets if t.type in kind], page_height)
        if named is not None:
            return named
    return _nearest(caption, targets, page_height)


def _nearest(caption: Block, targets: list[Block], page_height: float) -> Block | None:
    best: tuple[float, float] | None = None
    chosen = None
    for target in targets:
        if _x_overlap(caption.bbox, target.bbox) <= 0:
            continue
        gap = max(caption.bbox.y0 - target.bbox.y1, target.bbox.y0 - caption.bbox.y1, 0.0)
        if page_height > 0 and gap > MAX_CAPTION_GAP * page_height:
            continue
        key = (gap, abs(_centre_y(caption.bbox) - _centre_y(target.bbox)))
        if best is None or key < best:
            best, chosen = key, target
    return chosen


def _x_overlap(a: BBox, b: BBox) -> float:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _centre_y(b: BBox) -> float:
    return (b.y0 + b.y1) / 2
