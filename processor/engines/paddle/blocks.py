"""PaddleOCR-VL / PP-StructureV3 blocks -> our Blocks. Pure: no paddle/paddleocr import.

The pipelines emit, per page, ``parsing_res_list``: blocks with ``label``, ``content``, ``bbox``
(pixels of the image the pipeline saw), a position (= reading order, the layout model orders them),
a ``group_id`` and, for picture-like labels, an ``image`` (``{"path", "img": PIL.Image}``).

Every label the pipelines can emit has an explicit BlockType here (``LABEL_TYPES``):
  * PP-DocLayoutV2/V3 (PaddleOCR-VL v1/v1.5/v1.6 layout models): 25 labels
  * with ``use_layout_detection=False`` the whole page is one block labelled by the prompt label:
    ``ocr``, ``formula``, ``table``, ``chart``, ``spotting``, ``seal``
  * PP-DocLayout_plus-L (PP-StructureV3) and its title relabelling: ``formula``, ``*_title``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from processor.document import Asset, BBox, Block, BlockType, ImageRef, Line

# paddlex inference_meta._LABEL_DOC_LAYOUT_V2V3 (PP-DocLayoutV2 / PP-DocLayoutV3)
DOC_LAYOUT_V2V3_LABELS = [
    "abstract", "algorithm", "aside_text", "chart", "content", "display_formula", "doc_title",
    "figure_title", "footer", "footer_image", "footnote", "formula_number", "header", "header_image",
    "image", "inline_formula", "number", "paragraph_title", "reference", "reference_content", "seal",
    "table", "text", "vertical_text", "vision_footnote",
]  # fmt: skip
# prompt labels used as the single block's label when layout detection is off
PROMPT_LABELS = ["ocr", "formula", "table", "chart", "spotting", "seal"]
# PP-DocLayout_plus-L (PP-StructureV3) adds these; its title relabelling adds the *_title ones
STRUCTURE_V3_EXTRA_LABELS = ["formula", "table_title", "chart_title", "abstract_title", "reference_title",
                             "content_title"]  # fmt: skip

LABEL_TYPES: dict[str, BlockType] = {
    "doc_title": BlockType.TITLE,
    "paragraph_title": BlockType.HEADING,
    "abstract_title": BlockType.HEADING,
    "reference_title": BlockType.HEADING,
    "content_title": BlockType.HEADING,
    "text": BlockType.TEXT,
    "ocr": BlockType.TEXT,
    "spotting": BlockType.TEXT,
    "vertical_text": BlockType.TEXT,
    "abstract": BlockType.TEXT,
    "content": BlockType.TEXT,  # table of contents
    "aside_text": BlockType.TEXT,  # marginalia; out of the Markdown by the pipeline default
    "formula_number": BlockType.TEXT,  # "(3)" beside a formula; the pipeline's Markdown hides it
    "reference": BlockType.REFERENCE,
    "reference_content": BlockType.REFERENCE,
    "table": BlockType.TABLE,
    "display_formula": BlockType.FORMULA,
    "inline_formula": BlockType.FORMULA,
    "formula": BlockType.FORMULA,
    "algorithm": BlockType.CODE,
    "image": BlockType.FIGURE,
    "seal": BlockType.FIGURE,
    "chart": BlockType.CHART,
    "figure_title": BlockType.CAPTION,
    "table_title": BlockType.CAPTION,
    "chart_title": BlockType.CAPTION,
    "vision_footnote": BlockType.CAPTION,  # the note under a table/figure
    "footnote": BlockType.FOOTNOTE,
    "header": BlockType.HEADER,
    "header_image": BlockType.HEADER,
    "footer": BlockType.FOOTER,
    "footer_image": BlockType.FOOTER,
    "number": BlockType.PAGE_NUMBER,
}

ALL_LABELS = sorted(set(DOC_LAYOUT_V2V3_LABELS + PROMPT_LABELS + STRUCTURE_V3_EXTRA_LABELS))
# labels whose block is a picture when the pipeline cut one (charts/seals only when not recognised)
PICTURE_LABELS = frozenset({"image", "header_image", "footer_image", "chart", "seal"})
# the pipeline configs' default ``markdown_ignore_labels``
DEFAULT_MARKDOWN_IGNORE = ["number", "footnote", "header", "header_image", "footer", "footer_image", "aside_text"]
# never in the reading order (the pipeline's Markdown leaves them out too)
_NO_ORDER_LABELS = frozenset({"formula_number"})

_HEADING_MARKS = re.compile(r"^\s*#+\s+")
_LATEX_DELIMS = [("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")]


@dataclass
class RawBlock:
    """One pipeline block, decoupled from paddlex classes (tests build these directly)."""

    label: str
    content: str
    bbox: tuple[float, float, float, float]
    index: int  # position in the page's parsing_res_list = the pipeline's reading order
    group_id: int | None = None
    title_level: int | None = None
    image: Any = None  # PIL.Image when the pipeline cut a picture for this block
    image_path: str | None = None  # the pipeline's name for that picture ("imgs/img_in_image_box_….jpg")
    polygon: list[tuple[float, float]] | None = None  # pipeline pixels
    global_block_id: int | None = None  # set by restructure_pages: document-wide
    global_group_id: int | None = None  # … and shared by the pieces of a table continued across pages
    confidence: float | None = None  # the layout model's score (scores.attach)
    lines: list[tuple[str, tuple[float, float, float, float], float | None]] | None = None  # OCR lines, pixels
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_pipeline(cls, obj: Any, index: int) -> RawBlock:
        """From a ``PaddleOCRVLBlock`` / ``LayoutBlock`` (attributes) or a JSON block (keys)."""
        if isinstance(obj, dict):
            get = obj.get
            label, content, bbox = get("block_label", "text"), get("block_content"), get("block_bbox", (0, 0, 0, 0))
            polygon, image = get("block_polygon_points"), get("image")
        else:
            get = lambda name: getattr(obj, name, None)  # noqa: E731
            label, content, bbox = obj.label, get("content"), list(obj.bbox)[:4]
            polygon, image = get("polygon_points"), get("image")
        return cls(
            label=str(label),
            content=content or "",
            bbox=tuple(float(v) for v in bbox),  # type: ignore[arg-type]
            index=index,
            group_id=get("group_id"),
            title_level=get("title_level"),
            image=image.get("img") if isinstance(image, dict) else None,
            image_path=image.get("path") if isinstance(image, dict) else None,
            polygon=[(float(x), float(y)) for x, y in polygon] if polygon is not None else None,
            global_block_id=get("global_block_id"),
            global_group_id=get("global_group_id"),
        )


def block_type(label: str) -> BlockType:
    """The BlockType for a pipeline label; unknown (future) labels become TEXT."""
    return LABEL_TYPES.get(label, BlockType.TEXT)


def figure_asset(img: Any, page: int, index: int) -> tuple[Asset, ImageRef]:
    """A PIL image -> PNG Asset ``images/p{page}_{index}.png`` and the ImageRef pointing at it."""
    buf = io.BytesIO()
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        img = img.convert("RGB")
    img.save(buf, format="PNG")
    path = f"images/p{page}_{index}.png"
    return Asset(path=path, data=buf.getvalue()), ImageRef(path=path, width=img.width, height=img.height)


def strip_latex(content: str) -> str:
    text = content.strip()
    for left, right in _LATEX_DELIMS:
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            return text[len(left) : len(text) - len(right)].strip()
    return text


def is_html_table(content: str) -> bool:
    return "<table" in content.lower()


def to_block(
    raw: RawBlock,
    *,
    order: int | None,
    scale: tuple[float, float] = (1.0, 1.0),
    image: ImageRef | None = None,
) -> Block:
    """Map one pipeline block to a Block (content kind chosen by label and content)."""
    btype = block_type(raw.label)
    sx, sy = scale
    x0, y0, x1, y1 = raw.bbox
    bbox = BBox(x0=min(x0, x1) * sx, y0=min(y0, y1) * sy, x1=max(x0, x1) * sx, y1=max(y0, y1) * sy)
    if btype.is_furniture:
        order = None
    fields: dict[str, Any] = {}
    content = raw.content or ""
    if image is not None:
        fields["image"] = image
        if btype in (BlockType.FIGURE, BlockType.CHART) and content.strip():
            fields["text"] = content  # read inside the picture: seal recognition, use_ocr_for_image_block
    elif btype is BlockType.TABLE or (btype is BlockType.CHART and is_html_table(content)):
        # "" = a table continued from the previous page whose rows restructure_pages moved there
        fields["html" if is_html_table(content) or not content.strip() else "text"] = content
    elif btype is BlockType.FORMULA:
        fields["latex"] = strip_latex(content)
    elif btype in (BlockType.TITLE, BlockType.HEADING):
        fields["text"] = _HEADING_MARKS.sub("", content).strip()
    else:
        fields["text"] = content
    level = heading_level(raw) if btype is BlockType.HEADING else None
    polygon = [(x * sx, y * sy) for x, y in raw.polygon] if raw.polygon else None
    lines = [Line(text=t, bbox=BBox(x0=a * sx, y0=b * sy, x1=c * sx, y1=d * sy), confidence=score)
             for t, (a, b, c, d), score in raw.lines] if raw.lines else None  # fmt: skip
    return Block(type=btype, bbox=bbox, order=order, level=level, polygon=polygon, block_id=raw.global_block_id,
                 group_id=raw.global_group_id, confidence=raw.confidence, lines=lines, **fields)  # fmt: skip


def heading_level(raw: RawBlock) -> int:
    """The number of '#' the pipeline's own Markdown gives this heading (1-6): ``title_level``
    (0 = top, from restructure_pages) + 1, else its numbering's depth + 1 ("1.2 Methods" -> 3)."""
    if raw.title_level is not None:
        return min(max(int(raw.title_level), 0) + 1, 6)
    title = _HEADING_MARKS.sub("", raw.content or "").strip().rstrip(".")
    depth = title.count(".") + 1 if "." in title else 1
    return min(depth + 1, 6)


def map_page_blocks(
    raws: list[RawBlock],
    *,
    scale: tuple[float, float] = (1.0, 1.0),
    images: dict[int, ImageRef] | None = None,
    markdown_ignore_labels: list[str] | None = None,
) -> list[Block]:
    """All blocks of a page, in the pipeline's order. Reading order skips page furniture, the
    pipeline's ``markdown_ignore_labels`` and formula numbers (as the pipeline's Markdown does)."""
    images = images or {}
    ignore = set(DEFAULT_MARKDOWN_IGNORE if markdown_ignore_labels is None else markdown_ignore_labels)
    blocks, order = [], 0
    for raw in raws:
        btype = block_type(raw.label)
        in_order = not btype.is_furniture and raw.label not in ignore and raw.label not in _NO_ORDER_LABELS
        blocks.append(to_block(raw, order=order if in_order else None, scale=scale, image=images.get(raw.index)))
        if in_order:
            order += 1
    return blocks


def embedded_image_paths(content: str) -> list[str]:
    """``imgs/…`` paths a table's HTML references (figures the pipeline found inside a table)."""
    return re.findall(r'<img\s+src="(imgs/[^"]+)"', content or "")


def rewrite_image_paths(content: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        content = content.replace(f'src="{old}"', f'src="{new}"')
    return content
