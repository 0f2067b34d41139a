"""The engine's placed blocks, in reading order, as the document's typed ``Block``s: boxes
rounded, furniture without an order number, scores clamped to 0..1, and, when asked for, each
block's text lines with their words."""

from __future__ import annotations

from processor.document import BBox, Block, ImageRef, Word
from processor.document import Line as DocLine
from processor.engines.cpu.layout import PlacedBlock, Rect


def to_blocks(items: list[PlacedBlock], rounding: int = 2, lines: bool = False) -> list[Block]:
    """Typed blocks from items already in reading order; furniture gets no order number.
    ``lines``: blocks carry their text lines and words (document.lines)."""
    out: list[Block] = []
    order = 0
    for pb in items:
        if pb.block_type.is_furniture:
            out.append(_make(pb, None, rounding, lines))
        else:
            out.append(_make(pb, order, rounding, lines))
            order += 1
    return out


def bbox_of(rect: Rect, rounding: int = 2) -> BBox:
    return BBox(**dict(zip(("x0", "y0", "x1", "y1"), (round(v, rounding) for v in rect), strict=True)))


def _score(value: float | None) -> float | None:
    return None if value is None else round(min(1.0, max(0.0, value)), 4)


def _lines(pb: PlacedBlock, rounding: int) -> list[DocLine] | None:
    if not pb.lines:
        return None
    return [
        DocLine(text=ln.text, bbox=bbox_of(ln.bbox, rounding), confidence=_score(1.0 if ln.conf is None else ln.conf),
                words=None if ln.words is None else [
                    Word(text=text, bbox=bbox_of(box, rounding), confidence=_score(1.0 if conf is None else conf))
                    for text, box, conf in ln.words])
        for ln in pb.lines
    ]


def _make(pb: PlacedBlock, order: int | None, rounding: int, lines: bool = False) -> Block:
    bbox = bbox_of(pb.bbox, rounding)
    image = None
    if pb.image_path:
        image = ImageRef(path=pb.image_path, width=pb.image_size[0], height=pb.image_size[1])
    return Block(
        type=pb.block_type, bbox=bbox, order=order, level=pb.level, text=pb.text, html=pb.html, image=image,
        confidence=_score(pb.confidence), lines=_lines(pb, rounding) if lines else None, cells=pb.cells,
    )
