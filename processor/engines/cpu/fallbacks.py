"""Undoing the stage that lost or scrambled a page's text, judged against the plain read
(``plain_read``): a table whose cells do not hold the words inside its box, a reading order
that breaks the plain read's, and, when nothing else holds, the page itself.

Each undo is recorded as a ``Fallback`` on the page (stage, reason, the check's figure before
and after), so a reader of the JSON, and the daemon's metrics, see what was given up where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from processor.document import BlockType, Fallback, FallbackStage, TableCell
from processor.engines.cpu.layout import PlacedBlock, Rect, TextBlock
from processor.engines.cpu.plain_read import (
    MAX_FRAGMENTS,
    MIN_ORDER,
    MIN_PAGE_RECALL,
    MIN_TABLE_RECALL,
    Agreement,
    PlainWord,
    agreement,
    centred_in,
    fragments,
    html_tokens,
    inside,
    plain_order,
    result_tokens,
    tokens,
)
from processor.table_cells import table_cells

# Finders that see a grid in the words' alignment alone, with no rulings: text set in columns
# (an index, a list of terms) aligns too. Their table must not break the plain read's order the
# way text columns read across would (thresholds as for the page's order).
UNRULED = frozenset({"word columns", "table model"})
# A table is judged only when its box holds this many of the plain read's words: fewer give
# no figure worth acting on (a two-cell legend).
MIN_TABLE_WORDS = 8
# One cell spanning at least half the rows (3 or more) and holding over half the table's words
# is a grid laid over running text, not a table of it.
MOST_WORDS = 0.5


@dataclass
class TableCandidate:
    """A table a finder proposes for a region, as HTML (cells filled), and the finder's name."""

    bbox: Rect
    html: str
    finder: str
    cells: list[TableCell] | None = None  # with their boxes, where the finder knows them


def table_verdict(candidate: TableCandidate, plain: Sequence[PlainWord]) -> tuple[str, float] | None:
    """Why ``candidate`` loses text (reason, recall), or None when it holds its words."""
    inner = [w for w in plain if centred_in(w.bbox, candidate.bbox)]
    if len(inner) < MIN_TABLE_WORDS:
        return None
    got = html_tokens(candidate.html)
    kept = agreement([w.token for w in inner], got)
    if kept.recall < MIN_TABLE_RECALL:
        return f"{candidate.finder}: its cells hold {kept.recall:.0%} of the words inside its box", kept.recall
    if candidate.finder in UNRULED:
        order, cut = kept.order, fragments(inner, got)
        if order < MIN_ORDER and cut > MAX_FRAGMENTS:
            return (f"{candidate.finder}: no rulings, and read row by row it cuts the plain read's regions into "
                    f"{cut:.1f} pieces each (order {order:.2f}): columns of text", kept.recall)
    cells = table_cells(candidate.html)
    rows = max((c.row + c.row_span for c in cells), default=0)
    counts = [len(tokens(c.text)) for c in cells]
    total = sum(counts)
    for cell, n in zip(cells, counts, strict=True):
        if rows >= 3 and cell.row_span >= max(3, rows / 2) and n > MOST_WORDS * total:
            reason = f"{candidate.finder}: one cell spanning {cell.row_span} of {rows} rows holds {n / total:.0%} of its words"
            return reason, kept.recall
    return None


def keep_tables(
    candidates: list[TableCandidate],
    plain: Sequence[PlainWord],
    alternatives: Callable[[TableCandidate], list[TableCandidate]],
    fallbacks: list[Fallback],
    undone: list[Rect] | None = None,
) -> list[TableCandidate]:
    """The candidates that hold their words. One that does not gives way to the first of its
    ``alternatives`` (other finders on the same region) that does, else to text (dropped here,
    so its words stay on the page as text; its box is added to ``undone``). Every undo is recorded."""
    kept: list[TableCandidate] = []
    for candidate in candidates:
        verdict = table_verdict(candidate, plain)
        if verdict is None:
            kept.append(candidate)
            continue
        reason, before = verdict
        chosen = next((alt for alt in alternatives(candidate) if table_verdict(alt, plain) is None), None)
        if chosen is not None:
            kept.append(chosen)
            after = agreement(inside(plain, chosen.bbox), html_tokens(chosen.html)).recall
            reason += f"; {chosen.finder}'s table holds them"
        else:
            after = 1.0  # the words stay text: all of them are kept
            reason += "; read as text, in the plain read's order"
            if undone is not None:
                undone.append(candidate.bbox)
        fallbacks.append(Fallback(stage=FallbackStage.TABLE, reason=reason, measure="recall",
                                  score_before=round(before, 4), score_after=round(after, 4)))
    return kept


def plain_order_within(placed: list[PlacedBlock], plain: Sequence[PlainWord], boxes: Sequence[Rect]) -> list[PlacedBlock]:
    """The blocks lying in each of ``boxes`` (tables undone) in the plain read's order, in the
    places they held: a table's order was its grid's; without it, the plain read's is the one
    left (a column split would read a table's columns one after another)."""
    out = list(placed)
    for box in boxes:
        slots = [i for i, b in enumerate(out) if not b.block_type.is_furniture and centred_in(b.bbox, box)]
        for i, block in zip(slots, plain_order([out[i] for i in slots], plain), strict=True):
            out[i] = block
    return out


def _body_tokens(placed: Sequence[PlacedBlock]) -> list[str]:
    """The words of every block but tables (judged on their own by ``table_verdict``)."""
    return result_tokens([b for b in placed if b.block_type is not BlockType.TABLE])


def page_check(placed: Sequence[PlacedBlock], plain: Sequence[PlainWord]) -> dict:
    """What the page's JSON records of its final check (``raw.plain_read``)."""
    return page_agreement(placed, plain).as_dict() | {"fragments": round(fragments(plain, _body_tokens(placed)), 2)}


def page_agreement(placed: Sequence[PlacedBlock], plain: Sequence[PlainWord]) -> Agreement:
    """Recall over the whole page; order outside tables (a table is read row by row, the plain
    read may go down its columns: tables are judged by ``table_verdict``)."""
    recall = agreement([w.token for w in plain], result_tokens(placed)).recall
    tables = [b.bbox for b in placed if b.block_type is BlockType.TABLE]
    free = [w.token for w in plain if not any(centred_in(w.bbox, box) for box in tables)]
    order = agreement(free, _body_tokens(placed)).order
    return Agreement(recall, order, len(plain))


def keep_plain_order(placed: list[PlacedBlock], plain: Sequence[PlainWord], fallbacks: list[Fallback],
                     by_region: bool = False) -> list[PlacedBlock]:
    """``placed`` (in the engine's reading order, furniture last) or, when that order breaks
    the plain read's, the plain read's order of the same blocks. ``by_region`` (text layers,
    whose extraction order is only a guide to its regions): undone only when the engine's order
    cuts the regions apart, and then the regions are read one after another."""
    before = page_agreement(placed, plain)
    if before.order >= MIN_ORDER or not plain:
        return placed
    cut = fragments(plain, _body_tokens(placed))
    if by_region and cut <= MAX_FRAGMENTS:
        return placed
    reordered = in_plain_order(placed, plain, by_region)
    after = page_agreement(reordered, plain)
    if after.order <= before.order:
        return placed
    fallbacks.append(Fallback(stage=FallbackStage.READING_ORDER, measure="order",
                              reason=f"the column split's order keeps {before.order:.0%} of the words in the plain "
                              f"read's order (its regions cut into {cut:.1f} pieces each); the plain read's "
                              f"{'regions are' if by_region else 'order is'} followed",
                              score_before=round(before.order, 4), score_after=round(after.order, 4)))
    return reordered


def in_plain_order(placed: list[PlacedBlock], plain: Sequence[PlainWord], by_region: bool = False) -> list[PlacedBlock]:
    """The body in the plain read's order, then the furniture (as ``layout.in_reading_order``)."""
    body = [b for b in placed if not b.block_type.is_furniture]
    return plain_order(body, plain, by_region) + [b for b in placed if b.block_type.is_furniture]


def keep_text(placed: list[PlacedBlock], plain: Sequence[PlainWord], plain_page: Callable[[], list[PlacedBlock]],
              fallbacks: list[Fallback]) -> list[PlacedBlock]:
    """``placed``, or the page read plainly (``plain_page``) when ``placed`` still loses text."""
    before = page_agreement(placed, plain)
    if before.recall >= MIN_PAGE_RECALL or not plain:
        return placed
    fallback = plain_page()
    after = page_agreement(fallback, plain)
    if after.recall <= before.recall:
        return placed
    fallbacks.append(Fallback(stage=FallbackStage.PAGE, measure="recall",
                              reason=f"the page's blocks hold {before.recall:.0%} of the plain read's words; "
                              "the page is the plain read",
                              score_before=round(before.recall, 4), score_after=round(after.recall, 4)))
    return fallback


def layer_read_by_ocr(reread: list[tuple[TextBlock, TextBlock | None]], fonts: Sequence[str]) -> Fallback:
    """The record of text-layer blocks read by OCR instead (their layer untrusted: broken
    characters, or fonts whose sampled lines OCR contradicted): how much of the OCR reading
    the layer had (before) and has now (after: all of it)."""
    layer = [t for block, _ in reread for t in tokens(block.text)]
    ocr = [t for _, block in reread if block is not None for t in tokens(block.text)]
    before = agreement(ocr, layer).recall if ocr else 0.0
    why = f"fonts OCR contradicted: {', '.join(fonts)}" if fonts else "characters the layer cannot mean"
    return Fallback(stage=FallbackStage.TEXT_LAYER, measure="recall", score_before=round(before, 4), score_after=1.0,
                    reason=f"{len(reread)} text-layer block(s) read by OCR ({why})")


def layer_replaced(layer_text: str, placed: Sequence[PlacedBlock], reason: str) -> Fallback:
    """The record of a page whose whole text layer was judged unsound and read by OCR."""
    ocr = result_tokens(placed)
    before = agreement(ocr, tokens(layer_text)).recall if ocr else 0.0
    return Fallback(stage=FallbackStage.TEXT_LAYER, measure="recall", score_before=round(before, 4), score_after=1.0,
                    reason=f"the page's text layer read by OCR ({reason})")
