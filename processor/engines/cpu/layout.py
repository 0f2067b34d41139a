"""Page structure from positioned lines: furniture, headings, lists, code, reading order.

Both the text-layer path and the OCR path produce ``TextBlock``s (lines with a bbox and a
size: the font size in points, or the line height in pixels for OCR); this module turns
them into typed ``Block``s the same way, so both kinds of page get the same structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from processor.document import BlockType

Rect = tuple[float, float, float, float]

_BULLET_RE = re.compile(r"^\s*([•◦▪▫●○■□‣∙·⁃–—*\-])\s*")
_NUMBERED_RE = re.compile(r"^\s*(\d{1,3}|[a-zа-я])[.)]\s+\S")
_PAGE_NUM_RE = re.compile(
    r"^\s*(\d{1,4}|[ivxlc]{1,6}|(page|стр\.?|страница)\s*\d+(\s*(of|из|/)\s*\d+)?|\d+\s*/\s*\d+|[-–—]\s*\d+\s*[-–—])\s*$",
    re.IGNORECASE,
)
_DIGITS_RE = re.compile(r"\d+")
_CAPTION_RE = re.compile(
    # "Table 2.", "Рис. 3:", and the ГОСТ style "Таблица 1 – Название", "Рисунок А.2 — ..."
    r"^\s*(figure|fig\.|table|listing|chart|рис\.|рисунок|таблица|табл\.|листинг|схема)\s*[\dA-ZА-Я]+(\.\d+)*\s*[.:\u2013\u2014-]",
    re.IGNORECASE,
)
# A table or figure carried over to the next page is captioned again at the top of each page
# ("Продолжение таблицы 1", "Table 2 (continued)"): it recurs, but it is the body's, not a head.
_CONTINUED_RE = re.compile(
    r"^\s*((продолжение|окончание)\s+(таблицы|табл\.|рисунка|рис\.)|(table|figure|fig\.)\s*[\dA-Z.]+\s*\(?(continued|cont\.)\)?)",
    re.IGNORECASE,
)
# Furniture lives in a thin band at the top or bottom of the page.
FURNITURE_BAND = 0.075


@dataclass
class Line:
    text: str
    bbox: Rect
    size: float
    bold: bool = False
    mono: bool = False
    untrusted: int = 0  # characters from a text layer whose Unicode map is broken (see trust)
    conf: float | None = None  # OCR lines: the mean of Tesseract's word confidences, 0..1
    # (text, box, confidence 0..1 or None): the words as the reader gave them
    words: list[tuple[str, Rect, float | None]] | None = None


@dataclass
class TextBlock:
    lines: list[Line]
    bbox: Rect

    @property
    def text(self) -> str:
        return join_lines([ln.text for ln in self.lines])

    @property
    def confidence(self) -> float:
        """OCR'd lines: their mean confidence; a text layer's (sound, or it would be OCR'd): 1.0."""
        confs = [ln.conf for ln in self.lines if ln.conf is not None]
        return sum(confs) / len(confs) if confs else 1.0

    @property
    def untrusted_share(self) -> float:
        total = sum(sum(not ch.isspace() for ch in ln.text) for ln in self.lines)
        return sum(ln.untrusted for ln in self.lines) / total if total else 0.0


@dataclass
class PlacedBlock:
    """A finished block plus where it sits, before the page's reading order is assigned."""

    block_type: BlockType
    bbox: Rect
    text: str | None = None
    html: str | None = None
    level: int | None = None
    image_path: str | None = None
    image_size: tuple[int, int] = (0, 0)
    confidence: float | None = None  # 0..1, see Block.confidence
    lines: list[Line] | None = None  # the text lines it was made of (Block.lines, when asked for)
    cells: list | None = None  # tables: document.TableCell with boxes, where the finder knows them


@dataclass
class PageGeometry:
    width: float
    height: float
    furniture_signatures: frozenset[str] = field(default_factory=frozenset)


def union(rects: list[Rect]) -> Rect:
    return (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects))


def overlap_ratio(inner: Rect, outer: Rect) -> float:
    """Share of ``inner``'s area that lies inside ``outer``."""
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = max(1e-6, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return max(0.0, w) * max(0.0, h) / area


def join_lines(lines: list[str]) -> str:
    """Join wrapped lines into one paragraph; undo end-of-line hyphenation of words."""
    out = ""
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        if not out:
            out = text
        elif re.search(r"[a-zа-яё]-$", out, re.IGNORECASE) and text[:1].islower():
            out = out[:-1] + text
        else:
            out = f"{out} {text}"
    return out


def signature(text: str) -> str:
    """Running heads differ only in their page numbers: compare them with digits masked."""
    return _DIGITS_RE.sub("#", " ".join(text.lower().split()))


def body_size(blocks: list[TextBlock]) -> float:
    weights: dict[float, int] = {}
    for b in blocks:
        for ln in b.lines:
            key = round(ln.size * 2) / 2
            weights[key] = weights.get(key, 0) + len(ln.text)
    return max(weights, key=lambda k: weights[k]) if weights else 10.0


def furniture_type(block: TextBlock, geo: PageGeometry, body: float) -> BlockType | None:
    """Running heads, feet and page numbers: short blocks at the page's top or bottom edge that
    are set small, carry a number (page, date, issue) or recur on other pages."""
    _, y0, _, y1 = block.bbox
    text = block.text
    band = geo.height * FURNITURE_BAND
    in_top, in_bottom = y1 <= band * 1.3, y0 >= geo.height - band * 1.3
    if not (in_top or in_bottom) or visual_rows(block) > 2 or len(text) > 160 or _CONTINUED_RE.match(text):
        return None
    if _PAGE_NUM_RE.match(text):
        return BlockType.PAGE_NUMBER
    thin = y1 <= band or y0 >= geo.height - band
    small = max(ln.size for ln in block.lines) <= body * 1.02
    repeated = signature(text) in geo.furniture_signatures
    # a numbered heading ("2 BASIC PRINCIPLES") in the top band is set larger than body text
    numbered = bool(_DIGITS_RE.search(text)) and max(ln.size for ln in block.lines) <= body * 1.15
    if repeated or (thin and (small or numbered)):
        return BlockType.HEADER if in_top else BlockType.FOOTER
    return None


_RUNNING_NUMBER_RE = re.compile(r"^\s*\d{1,3}\s+\S|\S\s+\d{1,3}\s*$|^\s*\d{1,4}\s*$")


def _edge_furniture(blocks: list[TextBlock], body: float) -> dict[int, BlockType]:
    """The single row above (below) everything else on the page, set no larger than body
    text and carrying a page number at one end ("Optimized Table Tokenization ... 9"), is a
    running head (foot), however wide the page's margins are."""
    rows = [b for b in blocks if b.lines]
    if len(rows) < 3:
        return {}
    found: dict[int, BlockType] = {}
    for top in (True, False):
        edge = min(rows, key=lambda b: b.bbox[1]) if top else max(rows, key=lambda b: b.bbox[3])
        height = edge.bbox[3] - edge.bbox[1]
        mid = (edge.bbox[1] + edge.bbox[3]) / 2
        row = [b for b in rows if b.bbox[1] <= mid <= b.bbox[3]]
        rest = [b for b in rows if b not in row]
        if not rest or any(visual_rows(b) > 1 for b in row):
            continue
        gap = (min(b.bbox[1] for b in rest) - max(b.bbox[3] for b in row)) if top else (
            min(b.bbox[1] for b in row) - max(b.bbox[3] for b in rest))
        text = " ".join(b.text for b in sorted(row, key=lambda b: b.bbox[0]))
        small = all(ln.size <= body * 1.1 and not ln.bold for b in row for ln in b.lines)
        if gap >= 0.8 * height and small and _RUNNING_NUMBER_RE.search(text) and not _CONTINUED_RE.match(text):
            for b in row:
                number = bool(_PAGE_NUM_RE.match(b.text))
                found[id(b)] = BlockType.PAGE_NUMBER if number else (BlockType.HEADER if top else BlockType.FOOTER)
    return found


def visual_rows(block: TextBlock) -> int:
    """Lines of text as seen on the page (pieces of one row far apart count once)."""
    centers: list[float] = []
    for ln in sorted(block.lines, key=lambda ln: ln.bbox[1]):
        cy = (ln.bbox[1] + ln.bbox[3]) / 2
        if not centers or cy - centers[-1] > 0.5 * max(1.0, ln.bbox[3] - ln.bbox[1]):
            centers.append(cy)
    return len(centers)


def split_list_items(block: TextBlock) -> list[TextBlock]:
    """A block whose lines start with bullets/numbers holds several list items: cut it there."""
    groups: list[list[Line]] = []
    for ln in block.lines:
        if _BULLET_RE.match(ln.text) or _NUMBERED_RE.match(ln.text) or not groups:
            groups.append([ln])
        else:
            groups[-1].append(ln)
    return [TextBlock(lines=g, bbox=union([ln.bbox for ln in g])) for g in groups]


def list_item_text(text: str) -> str | None:
    """Markdown list text ("- x", "1. x") when ``text`` is a list item, else None."""
    m = _BULLET_RE.match(text)
    if m and len(text) > m.end() and (m.group(1) not in "-*–—" or text[m.end() - 1] == " "):
        return "- " + text[m.end():].strip()
    m = _NUMBERED_RE.match(text)
    if m:
        return text.strip()
    return None


def _is_heading(block: TextBlock, body: float, by_size: bool = True) -> bool:
    text = block.text
    letters = sum(ch.isalpha() for ch in text)
    if len(block.lines) > 3 or len(text) > 160 or letters < 3 or letters < 0.5 * len(text.replace(" ", "")):
        return False  # OCR specks and formula pieces are tall but are not headings
    size = max(ln.size for ln in block.lines)
    if size >= body * 1.18 or not by_size:
        return True
    bold = all(ln.bold for ln in block.lines)
    return bold and size >= body * 0.95 and len(text) < 100 and not text.rstrip().endswith((".", ",", ";", ":"))


def classify(blocks: list[TextBlock], geo: PageGeometry, first_page: bool,
             titles: list[Rect] | None = None) -> list[PlacedBlock]:
    """Turn a page's text blocks into typed blocks (reading order is assigned later).

    A heading needs evidence: on a text-layer page its font (size, weight); on a page image,
    where line heights are measured from noisy word boxes, ``titles``: the regions the layout
    model labels as titles (the size then only sets the level)."""
    body = body_size(blocks)
    placed: list[PlacedBlock] = []
    edges = _edge_furniture(blocks, body)
    largest = max((ln.size for b in blocks for ln in b.lines), default=0.0)
    for block in blocks:
        if not block.lines:
            continue
        # the layout model's title, or a caption, is the body's whatever its place on the page
        titled = titles is not None and any(overlap_ratio(block.bbox, t) >= 0.5 for t in titles)
        furniture = None if titled or _CAPTION_RE.match(block.text) else (
            edges.get(id(block)) or furniture_type(block, geo, body))
        if furniture:
            placed.append(PlacedBlock(furniture, block.bbox, text=block.text, confidence=block.confidence, lines=block.lines))
            continue
        if all(ln.mono for ln in block.lines) and len(block.lines) >= 2:
            code = "\n".join(ln.text.rstrip() for ln in block.lines)
            placed.append(PlacedBlock(BlockType.CODE, block.bbox, text=code, confidence=block.confidence, lines=block.lines))
            continue
        evidence = titles is None or any(overlap_ratio(block.bbox, t) >= 0.5 for t in titles)
        if evidence and not _CONTINUED_RE.match(block.text) and _is_heading(block, body, by_size=titles is None):
            # Levels from the size relative to body text, so they agree from page to page.
            ratio = max(ln.size for ln in block.lines) / body
            level = 1 if ratio >= 1.6 else 2 if ratio >= 1.3 else 3
            # the title is the largest line on the first page, not every big line on it
            is_title = first_page and level == 1 and block.bbox[1] < geo.height * 0.35 and (
                max(ln.size for ln in block.lines) >= largest - 0.5)
            kind = BlockType.TITLE if is_title else BlockType.HEADING
            placed.append(PlacedBlock(kind, block.bbox, text=block.text, level=None if is_title else level,
                                      confidence=block.confidence, lines=block.lines))
            continue
        if (_CAPTION_RE.match(block.text) or _CONTINUED_RE.match(block.text)) and len(block.text) < 400:
            placed.append(PlacedBlock(BlockType.CAPTION, block.bbox, text=block.text, confidence=block.confidence, lines=block.lines))
            continue
        for part in split_list_items(block):
            item = list_item_text(part.text)
            if item is not None:
                placed.append(PlacedBlock(BlockType.LIST_ITEM, part.bbox, text=item, confidence=part.confidence, lines=part.lines))
            else:
                placed.append(PlacedBlock(BlockType.TEXT, part.bbox, text=part.text, confidence=part.confidence, lines=part.lines))
    return placed


def reading_order(items: list[PlacedBlock], page_width: float) -> list[PlacedBlock]:
    """Recursive XY-cut on a projection profile: columns are split at vertical strips that
    (almost) no block covers; blocks that straddle such a strip (titles, wide figures) cut
    the page into bands first. Cutting bands only at straddling blocks keeps two columns
    whose paragraph gaps happen to line up from being read row by row."""
    return _xy(items, page_width * 0.008, 0)


def _by_y(items: list[PlacedBlock]) -> list[PlacedBlock]:
    return sorted(items, key=lambda b: (b.bbox[1], b.bbox[0]))


def _xy(items: list[PlacedBlock], min_gap: float, depth: int) -> list[PlacedBlock]:
    if len(items) <= 1 or depth > 12:
        return _by_y(items)
    cuts = _column_cuts(items, min_gap)
    if not cuts:
        # No gutter anywhere: any horizontal gap is safe to cut at, and the bands below may
        # have columns of their own (a full-width article end above a two-column start).
        bands = _split_y(items)
        if len(bands) > 1:
            return [b for band in bands for b in _xy(band, min_gap, depth + 1)]
        return _by_y(items)
    def crosses(b: PlacedBlock, c: float) -> bool:
        return b.bbox[0] < c - min_gap and b.bbox[2] > c + min_gap

    # Cut first where nothing crosses (a heading over columns 2-3 must not chop column 1);
    # only when every gutter is crossed, cut the page into bands at the crossing blocks.
    clean = [c for c in cuts if not any(crosses(b, c) for b in items)]
    if not clean:
        # Band the region only at the blocks crossing the least-crossed gutter: a sidebar
        # gutter crossed by the abstract must not chop the main two columns.
        main = min(cuts, key=lambda c: sum(crosses(b, c) for b in items))
        bands: list[list[PlacedBlock]] = [[]]
        for b in _by_y(items):
            if crosses(b, main):
                bands.extend([[b], []])
            else:
                bands[-1].append(b)
        bands = [band for band in bands if band]
        if len(bands) > 1:
            return [b for band in bands for b in _xy(band, min_gap, depth + 1)]
        return _by_y(items)
    cuts = clean
    cols: list[list[PlacedBlock]] = [[] for _ in range(len(cuts) + 1)]
    for b in items:
        cols[sum((b.bbox[0] + b.bbox[2]) / 2 > c for c in cuts)].append(b)
    cols = [c for c in cols if c]
    if len(cols) < 2:
        return _by_y(items)
    return [b for c in cols for b in _xy(c, min_gap, depth + 1)]


def _split_y(items: list[PlacedBlock]) -> list[list[PlacedBlock]]:
    bands: list[list[PlacedBlock]] = []
    bottom = -1e9
    for b in _by_y(items):
        if not bands or b.bbox[1] > bottom + 1:
            bands.append([])
        bands[-1].append(b)
        bottom = max(bottom, b.bbox[3])
    return bands


def _column_cuts(items: list[PlacedBlock], min_gap: float) -> list[float]:
    """x positions of gutters: runs of at least ``min_gap`` where the blocks covering them add
    up to under 8% of the region's height (a stray speck or a title may cross a gutter)."""
    x_lo = min(b.bbox[0] for b in items)
    x_hi = max(b.bbox[2] for b in items)
    y_span = max(1.0, max(b.bbox[3] for b in items) - min(b.bbox[1] for b in items))
    bins = 480
    step = max(1e-6, (x_hi - x_lo) / bins)
    cover = [0.0] * bins
    for b in items:
        h = b.bbox[3] - b.bbox[1]
        for i in range(int((b.bbox[0] - x_lo) / step), min(bins, int((b.bbox[2] - x_lo) / step) + 1)):
            cover[i] += h
    low = [c <= 0.08 * y_span for c in cover]
    cuts: list[float] = []
    i = 0
    while i < bins:
        if low[i]:
            j = i
            while j < bins and low[j]:
                j += 1
            if i > 0 and j < bins and (j - i) * step >= min_gap:
                cuts.append(x_lo + (i + j) / 2 * step)
            i = j
        else:
            i += 1
    return cuts


def in_reading_order(items: list[PlacedBlock], page_width: float) -> list[PlacedBlock]:
    """The body in reading order, then the furniture. Done while boxes are still in the
    frame the text runs in (before a rotated page's boxes are turned back)."""
    pictures = (BlockType.FIGURE, BlockType.CHART)
    body = [b for b in items if not b.block_type.is_furniture and b.block_type not in pictures]
    ordered = reading_order(body, page_width)
    # Figures do not steer the column finder (a banner behind a title would straddle every
    # gutter); each goes before the first block that starts below its top, under it.
    for fig in sorted((b for b in items if b.block_type in pictures), key=lambda b: b.bbox[1]):
        at = next(
            (i for i, b in enumerate(ordered)
             if b.bbox[1] >= fig.bbox[1] - 1 and min(b.bbox[2], fig.bbox[2]) > max(b.bbox[0], fig.bbox[0])),
            len(ordered),
        )
        ordered.insert(at, fig)
    return ordered + [b for b in items if b.block_type.is_furniture]
