"""Markdown rendering.

Pages are joined by a page-break comment line, ``<!-- page N -->``, placed before each
page's content (so page 1 starts the file with ``<!-- page 1 -->``). Page furniture
(headers, footers, page numbers) is left out. Tables are HTML (spans survive), formulas
``$$ … $$``, figures ``![figure](images/…)`` linking the files written beside the .md.
"""

from __future__ import annotations

import re

from processor.document import Block, BlockType, Document, Page, PageStatus

PAGE_BREAK = "<!-- page {number} -->"


def render_markdown(doc: Document) -> str:
    parts = []
    for page in doc.pages:
        parts.append(PAGE_BREAK.format(number=page.number))
        parts.append(render_page(page))
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def render_page(page: Page) -> str:
    if page.status is PageStatus.FAILED:
        reason = page.error.message if page.error else "unknown error"
        return f"<!-- page {page.number} failed: {_comment_safe(reason)} -->"
    return "\n\n".join(filter(None, (render_block(b) for b in page.reading_order())))


def render_block(block: Block) -> str:
    match block.type:
        case BlockType.TITLE:
            return f"# {_one_line(block.text)}"
        case BlockType.HEADING:
            return f"{'#' * min((block.level or 1) + 1, 6)} {_one_line(block.text)}"
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
            if block.image:
                return f"![{block.type.value}]({block.image.path})"
            return block.text or ""
        case _:
            return (block.text or block.html or "").strip()


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _comment_safe(text: str) -> str:
    return _one_line(text).replace("--", "—")
