"""Markdown rendering.

Pages are joined by a page-break comment line, ``<!-- page N -->``, placed before each
page's content (so page 1 starts the file with ``<!-- page 1 -->``). Page furniture
(headers, footers, page numbers) is left out. Tables are HTML (spans survive), formulas
``$$ … $$``, figures ``![Figure 3: Sales by region](images/…)`` linking the files written
beside the .md, their alt text the caption linked to them (``Block.caption_of``), else "figure"/"chart".
"""

from __future__ import annotations

import re

from processor.document import Block, BlockType, Document, Page, PageStatus

PAGE_BREAK = "<!-- page {number} -->"


def render_markdown(doc: Document) -> str:
    ranks = heading_ranks(doc)
    parts = []
    for page in doc.pages:
        parts.append(PAGE_BREAK.format(number=page.number))
        parts.append(render_page(page, ranks))
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def heading_ranks(doc: Document) -> dict[int, int]:
    """Engines give absolute levels (e.g. by font size); Markdown wants them dense, so a
    document whose only headings are level 3 gets '##', not '####'."""
    used = sorted({b.level or 1 for p in doc.pages for b in p.blocks if b.type is BlockType.HEADING})
    return {level: rank for rank, level in enumerate(used, 1)}


def render_page(page: Page, ranks: dict[int, int] | None = None) -> str:
    if page.status is PageStatus.FAILED:
        reason = page.error.message if page.error else "unknown error"
        return f"<!-- page {page.number} failed: {_comment_safe(reason)} -->"
    alts: dict[str, str] = {}
    for b in page.reading_order() + [b for b in page.blocks if b.order is None]:
        if b.type is BlockType.CAPTION and b.caption_of and _one_line(b.text):
            alts.setdefault(b.caption_of, _one_line(b.text))
    return "\n\n".join(filter(None, (render_block(b, ranks, alts.get(b.id or "")) for b in page.reading_order())))


def render_block(block: Block, ranks: dict[int, int] | None = None, alt: str | None = None) -> str:
    match block.type:
        case BlockType.TITLE:
            return f"# {_one_line(block.text)}"
        case BlockType.HEADING:
            level = (ranks or {}).get(block.level or 1, block.level or 1)
            return f"{'#' * min(level + 1, 6)} {_one_line(block.text)}"
        case BlockType.LIST_ITEM:
            text = (block.text or "").strip()
            return text if re.match(r"^([-*+]|\d+[.)])\s", text) else f"- {text}"
        case BlockType.TABLE:
            return block.html or block.text or ""
        case BlockType.FORMULA:
            return f"$$\n{block.latex}\n$$" if block.latex else (block.text or "")
        case BlockType.CODE:
            return f"```\n{block.text}\n```"
        case BlockType.FIGURE | BlockType.CHART:
            if block.image:  # and the text read inside it (a seal's, with seal recognition), below
                picture = f"![{_alt_text(alt or block.type.value)}]({block.image.path})"
                return f"{picture}\n\n{block.text.strip()}" if (block.text or "").strip() else picture
            return block.text or ""
        case _:
            return (block.text or block.html or "").strip()


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _alt_text(text: str) -> str:
    """Alt text that cannot end the image link early: brackets and backslashes escaped."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _comment_safe(text: str) -> str:
    return _one_line(text).replace("--", "—")


def render_pipeline_markdown(doc: Document) -> str:
    """The engine's own Markdown (PaddleOCR-VL's ``res.markdown`` per page), joined exactly as its
    ``concatenate_markdown_pages`` joins them; pages without one (failed) are left out, as there."""
    return "".join("\n\n" + p.pipeline_markdown for p in doc.pages if p.pipeline_markdown is not None)


def markdown_files(doc: Document) -> list[tuple[str, str]]:
    """(file suffix, Markdown) to write for ``doc``: docwatch's ``.md``; with the engine option
    ``markdown=pipeline`` the pipeline's own Markdown instead, with ``both`` that as ``.pipeline.md``."""
    mode = doc.engine.options.get("markdown", "docwatch")
    if mode == "pipeline":
        return [(".md", render_pipeline_markdown(doc))]
    if mode == "both":
        return [(".md", render_markdown(doc)), (".pipeline.md", render_pipeline_markdown(doc))]
    return [(".md", render_markdown(doc))]
