"""A review page: one self-contained HTML file to look at a converted document.

Every page's image with its blocks drawn over it (boxes coloured by type, numbered in reading
order; page furniture dashed and unnumbered), beside that page's Markdown rendered as HTML.
Failed pages and pages whose text came from a fallback are marked. Images are inlined as
data: URIs and the CSS too; a Content-Security-Policy lets the page load nothing from anywhere
(no network, no scripts), so text from a document cannot run in it.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from markdown_it import MarkdownIt

from processor.document import BlockType, Document, InputFormat, Page, PageMethod, PageStatus
from processor.render.markdown import heading_ranks, render_page

COLOURS: dict[BlockType, str] = {
    BlockType.TITLE: "#d62728",
    BlockType.HEADING: "#ff7f0e",
    BlockType.TEXT: "#1f77b4",
    BlockType.LIST_ITEM: "#17becf",
    BlockType.TABLE: "#2ca02c",
    BlockType.FORMULA: "#9467bd",
    BlockType.CODE: "#8c564b",
    BlockType.FIGURE: "#e377c2",
    BlockType.CHART: "#bcbd22",
    BlockType.CAPTION: "#7f7f7f",
    BlockType.FOOTNOTE: "#aec7e8",
    BlockType.REFERENCE: "#98df8a",
    BlockType.HEADER: "#999999",
    BlockType.FOOTER: "#999999",
    BlockType.PAGE_NUMBER: "#999999",
}

_PAGE_MARK = re.compile(r"^<!-- page (\d+) -->$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f3f3f3;color:#222}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ccc;position:sticky;top:0;z-index:2}
header h1{font-size:17px;margin:0 0 4px}
.legend span{display:inline-block;margin:2px 10px 2px 0;font-size:12px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border:2px solid}
section.page{display:flex;gap:20px;padding:16px 20px;border-bottom:1px solid #ccc;align-items:flex-start}
section.page.failed .sheet{outline:4px solid #c00}
.side{flex:0 0 48%;max-width:48%}
.sheet{position:relative;background:#fff;box-shadow:0 1px 4px #0003}
.sheet img,.sheet .placeholder{display:block;width:100%;height:auto}
.sheet .placeholder{background:repeating-linear-gradient(45deg,#eee 0 10px,#f8f8f8 10px 20px)}
.sheet svg{position:absolute;left:0;top:0;width:100%;height:100%}
svg rect.block{fill-opacity:.08;stroke-width:1.5;vector-effect:non-scaling-stroke}
svg rect.furniture{stroke-dasharray:4 3}
svg text{font:bold 11px sans-serif;paint-order:stroke;stroke:#fff;stroke-width:3px}
.meta{font-size:12px;margin:6px 0}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;background:#ddd;margin-right:6px}
.badge.failed{background:#c00;color:#fff}.badge.fallback{background:#f0ad4e}
.md{flex:1;min-width:0;background:#fff;padding:4px 18px;box-shadow:0 1px 4px #0003;overflow-x:auto}
.md img{max-width:100%}.md table{border-collapse:collapse}.md td,.md th{border:1px solid #bbb;padding:2px 6px}
.error{color:#c00;white-space:pre-wrap}
"""


def split_markdown(markdown: str) -> dict[int, str]:
    """A docwatch Markdown file, cut at its ``<!-- page N -->`` lines: page number -> Markdown."""
    marks = list(_PAGE_MARK.finditer(markdown))
    return {
        int(m.group(1)): markdown[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(markdown)].strip()
        for i, m in enumerate(marks)
    }


def markdown_by_page(document: Document) -> dict[int, str]:
    """Each page's Markdown as docwatch writes it in the .md file."""
    ranks = heading_ranks(document)
    return {p.number: render_page(p, ranks) for p in document.pages}


def page_images(path: Path | str, dpi: int = 110) -> list[bytes]:
    """PNGs of the input's pages (a PDF, or an image file), in page order."""
    import pymupdf

    with pymupdf.open(path) as doc:
        return [page.get_pixmap(dpi=dpi).tobytes("png") for page in doc]


def data_uri(data: bytes, mime: str | None = None) -> str:
    return f"data:{mime or _sniff(data)};base64,{base64.b64encode(data).decode()}"


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"


def fallback_note(page: Page, fmt: InputFormat) -> str | None:
    """Why this page's text did not come the primary way, or None."""
    if page.text_layer is not None and not page.text_layer.used and fmt is InputFormat.PDF:
        return f"text layer not used: {page.text_layer.reason}"
    if page.method is PageMethod.OCR and fmt is InputFormat.PDF:
        return "OCR: no usable text layer"
    return None


def render_review(
    document: Document,
    page_images: Sequence[bytes | None],
    markdown_by_page: Mapping[int, str],
    *,
    assets: Mapping[str, bytes] | None = None,
    title: str | None = None,
) -> str:
    """The review page of ``document`` as one HTML string.

    ``page_images[i]`` is the picture (PNG or JPEG bytes) of ``document.pages[i]``, or None where
    there is none (a grey placeholder of the page's size stands in); ``markdown_by_page`` maps a
    page number to its Markdown (``markdown_by_page(document)`` or ``split_markdown(md)``);
    ``assets`` maps an image path the Markdown links (``images/…``) to its bytes, inlined.
    """
    assets = {a.path: a.data for a in document.assets if a.data} | dict(assets or {})  # (figures kept elsewhere: given)
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.core.ruler.push("inline_assets", lambda state: _inline_images(state.tokens, assets))
    name = title or document.source.name
    failed = len(document.failed_pages)
    summary = (f"{len(document.pages)} page(s), {failed} failed · engine {document.engine.name} "
               f"{document.engine.version} · {document.source.format.value}")  # fmt: skip
    used = sorted({b.type for p in document.pages for b in p.blocks}, key=list(BlockType).index)
    legend = "".join(
        f'<span><i style="border-color:{COLOURS[t]};background:{COLOURS[t]}22"></i>{t.value}</span>' for t in used
    )
    pictures = list(page_images) + [None] * (len(document.pages) - len(page_images))
    pages = [
        _page(page, picture, markdown_by_page.get(page.number, ""), md, document.source.format)
        for page, picture in zip(document.pages, pictures, strict=False)
    ]
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">"
        f"<title>{html.escape(name)} — docwatch review</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(name)}</h1><div class=\"meta\">{html.escape(summary)}</div>"
        f"<div class=\"legend\">{legend}</div></header>\n" + "\n".join(pages) + "\n</body></html>\n"
    )


def _inline_images(tokens: list, assets: Mapping[str, bytes]) -> None:
    for token in tokens:
        for child in token.children or ():
            if child.type == "image" and (src := child.attrGet("src")) in assets:
                child.attrSet("src", data_uri(assets[src]))


def _page(page: Page, image: bytes | None, markdown: str, md: MarkdownIt, fmt: InputFormat) -> str:
    w, h = page.width, page.height
    if image:
        picture = f'<img class="page-image" alt="page {page.number}" src="{data_uri(image)}">'
    else:  # keeps the page's proportions so the boxes still sit where they belong
        picture = (f'<svg class="placeholder" viewBox="0 0 {w:g} {h:g}" style="position:static">'
                   f'<rect width="100%" height="100%" fill="#eee"/></svg>')  # fmt: skip
    boxes = []
    numbers = {id(b): n for n, b in enumerate(page.reading_order(), 1)}
    for block in page.blocks:
        b, colour = block.bbox, COLOURS[block.type]
        n = numbers.get(id(block))
        cls = "block furniture" if n is None else "block"
        tip = f"{n or '-'} {block.type.value}" + (f" ({block.confidence:.2f})" if block.confidence is not None else "")
        boxes.append(
            f'<rect class="{cls}" data-type="{block.type.value}" x="{b.x0:g}" y="{b.y0:g}" '
            f'width="{max(b.width, 0):g}" height="{max(b.height, 0):g}" stroke="{colour}" fill="{colour}">'
            f"<title>{html.escape(tip)}</title></rect>"
        )
        if n is not None:
            boxes.append(f'<text x="{b.x0 - 2:g}" y="{b.y0 + 10:g}" text-anchor="end" fill="{colour}">{n}</text>')
    overlay = f'<svg viewBox="0 0 {w:g} {h:g}" preserveAspectRatio="none">{"".join(boxes)}</svg>'
    badges = [f'<span class="badge">page {page.number}</span>', f'<span class="badge">{page.method.value}</span>']
    failed = page.status is PageStatus.FAILED
    error = ""
    if failed:
        badges.append('<span class="badge failed">failed</span>')
        message = f"{page.error.type}: {page.error.message}" if page.error else "failed"
        error = f'<p class="error">{html.escape(message)}</p>'
    if note := fallback_note(page, fmt):
        badges.append(f'<span class="badge fallback">fallback · {html.escape(note)}</span>')
    rendered = md.render(markdown).strip() if markdown.strip() else ""
    text = rendered if _COMMENT.sub("", rendered).strip() else None
    text = text or (error if failed else "<p><em>(no Markdown)</em></p>")
    badges.append(f'<span class="badge">{len(page.blocks)} blocks · {page.seconds:.2f} s</span>')
    return (
        f'<section class="page{" failed" if failed else ""}" id="page-{page.number}" data-page="{page.number}">'
        f'<div class="side"><div class="meta">{"".join(badges)}</div>{error}'
        f'<div class="sheet">{picture}{overlay}</div></div>'
        f'<div class="md">{text}</div>'
        "</section>"
    )
