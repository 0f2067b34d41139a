"""What the pipelines' own results say beyond ``parsing_res_list``, attached to our RawBlocks.
Pure: reads the page's result JSON (``res.json["res"]``), no paddle import.

* confidence: ``layout_det_res.boxes`` carry the layout model's ``score`` per detected box, in the
  same pixels as the blocks. A block is one box, or several the pipeline merged: its confidence is
  the lowest score of the boxes lying (mostly) inside it, those of its own label first. With layout
  detection off the pipeline invents one whole-page box scored 1: no score then.
* lines: PP-StructureV3's ``overall_ocr_res`` holds every OCR line on the page (``rec_texts``,
  ``rec_scores``, ``rec_boxes``); each goes to the smallest block holding its centre. PaddleOCR-VL
  reads a block as a whole: no line boxes exist, so its blocks get none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from processor.engines.paddle.blocks import RawBlock

_INSIDE = 0.5  # share of a layout box's area inside a block for it to count as that block's


def attach(raws: list[RawBlock], res: dict, *, lines: bool) -> None:
    """Set ``confidence`` (and with ``lines``, ``lines``) on the page's blocks from its result JSON."""
    if (res.get("model_settings") or {}).get("use_layout_detection", True):
        boxes = (res.get("layout_det_res") or {}).get("boxes") or []
        for raw in raws:
            raw.confidence = block_score(raw, boxes)
    ocr = res.get("overall_ocr_res")
    if lines and isinstance(ocr, dict):
        for raw, found in zip(raws, ocr_lines(raws, ocr), strict=True):
            raw.lines = found or None


def block_score(raw: RawBlock, boxes: Sequence[dict]) -> float | None:
    inside = [b for b in boxes if _share_inside(b.get("coordinate") or (), raw.bbox) >= _INSIDE and "score" in b]
    own = [b for b in inside if b.get("label") == raw.label] or inside
    if not own:
        return None
    return min(max(float(min(b["score"] for b in own)), 0.0), 1.0)


def ocr_lines(raws: list[RawBlock], ocr: dict) -> list[list[tuple[str, tuple[float, float, float, float], float | None]]]:
    """Per block (in ``raws``' order) its OCR lines as (text, box in pipeline pixels, score)."""
    out: list[list] = [[] for _ in raws]
    texts, scores, boxes = ocr.get("rec_texts") or [], ocr.get("rec_scores") or [], ocr.get("rec_boxes")
    for i, text in enumerate(texts):
        if boxes is None or i >= len(boxes) or not str(text).strip():
            continue
        x0, y0, x1, y1 = (float(v) for v in list(boxes[i])[:4])
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        holders = [k for k, r in enumerate(raws) if r.bbox[0] <= cx <= r.bbox[2] and r.bbox[1] <= cy <= r.bbox[3]]
        if holders:
            k = min(holders, key=lambda k: _area(raws[k].bbox))
            score = float(scores[i]) if i < len(scores) else None
            out[k].append((str(text), (x0, y0, x1, y1), None if score is None else min(max(score, 0.0), 1.0)))
    return out


def carry(first: list[RawBlock], raw: RawBlock) -> RawBlock:
    """A block rebuilt by ``restructure_pages`` keeps what ``attach`` gave it the first time."""
    if 0 <= raw.index < len(first):
        raw.confidence, raw.lines = first[raw.index].confidence, first[raw.index].lines
    return raw


def _share_inside(box: Any, bbox: Sequence[float]) -> float:
    if len(box) < 4:
        return 0.0
    x0, y0, x1, y1 = (float(v) for v in list(box)[:4])
    w = min(x1, bbox[2]) - max(x0, bbox[0])
    h = min(y1, bbox[3]) - max(y0, bbox[1])
    area = _area((x0, y0, x1, y1))
    return (w * h) / area if w > 0 and h > 0 and area > 0 else 0.0


def _area(b: Sequence[float]) -> float:
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
