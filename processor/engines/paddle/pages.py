"""Page pixels for the Paddle engine: render PDF pages / decode page images, cut PDF figures,
and the small records a page goes through. No paddle import."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processor.document import Asset, ErrorInfo, ImageRef, Page, PageMethod, PageStatus, PageUnit
from processor.engines.base import PageResult
from processor.engines.paddle.blocks import RawBlock
from processor.engines.paddle.pdf_text import PageTextLayer
from processor.errors import error_info
from processor.redact import redact_urls
from processor.source import OpenedInput

MAX_RENDER_PIXELS = 40_000_000  # a huge PDF page is rendered at a lower DPI rather than exhaust memory


@dataclass
class Rendered:
    number: int
    image: np.ndarray | None  # BGR, what the pipeline sees
    width: float  # page size in its own unit
    height: float
    unit: PageUnit
    scale: tuple[float, float]  # pipeline pixels -> page units
    error: BaseException | None = None


@dataclass
class Record:
    """A converted page kept until the document's end (for restructure_pages): JSON, no pixels,
    no figure bytes."""

    rendered: Rendered
    raw: dict
    raws: list[RawBlock]
    images: dict[int, ImageRef] = field(default_factory=dict)
    assets: list[Asset] = field(default_factory=list)
    seconds: float = 0.0
    image_paths: dict[str, str] = field(default_factory=dict)  # the pipeline's picture names -> our assets
    pipeline_markdown: str | None = None  # the pipeline's own Markdown of the page, when asked for
    text_layer: PageTextLayer | None = None  # the PDF text layer's characters per block (text_from_pdf=auto)
    first: Page | None = None  # the page as first yielded, before restructuring


def render_page(source: OpenedInput, index: int, dpi: int) -> Rendered:
    """Page ``index`` as the BGR array the pipeline wants: PDFs at ``dpi`` (lowered for huge pages),
    page images at full resolution. A page that cannot be rendered carries its error."""
    number = index + 1
    try:
        if source.is_pdf:
            page = source.doc[index]
            rect = page.rect
            px = (rect.width * dpi / 72) * (rect.height * dpi / 72)
            if px > MAX_RENDER_PIXELS:
                dpi = max(36, int(dpi * (MAX_RENDER_PIXELS / px) ** 0.5))
            pix = page.get_pixmap(dpi=dpi, alpha=False)
            arr = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
            bgr = to_bgr(arr)
            scale = (rect.width / pix.width, rect.height / pix.height)
            return Rendered(number, bgr, rect.width, rect.height, PageUnit.POINT, scale)
        from PIL import Image

        with Image.open(source.path or io.BytesIO(source.data)) as img:
            img.seek(index)
            rgb = np.asarray(img.convert("RGB"))
        h, w = rgb.shape[:2]
        return Rendered(number, to_bgr(rgb), float(w), float(h), PageUnit.PIXEL, (1.0, 1.0))
    except Exception as exc:  # noqa: BLE001 - a page that cannot be rendered fails alone
        unit = PageUnit.POINT if source.is_pdf else PageUnit.PIXEL
        return Rendered(number, None, 0.0, 0.0, unit, (1.0, 1.0), error=exc)


def pdf_figure(
    source: OpenedInput, rendered: Rendered, raw: RawBlock, dpi: int
) -> tuple[Asset, ImageRef] | None:
    """Cut a figure's box out of the PDF page at ``dpi`` as PNG (sharper than the page render)."""
    import pymupdf

    sx, sy = rendered.scale
    x0, y0, x1, y1 = raw.bbox
    clip = pymupdf.Rect(x0 * sx, y0 * sy, x1 * sx, y1 * sy)
    if clip.is_empty:
        return None
    pix = source.doc[rendered.number - 1].get_pixmap(dpi=dpi, clip=clip, alpha=False)
    path = f"images/p{rendered.number}_{raw.index}.png"
    return Asset(path=path, data=pix.tobytes("png")), ImageRef(path=path, width=pix.width, height=pix.height)


def failed_result(rendered: Rendered, exc: BaseException) -> PageResult:
    info = error_info(exc)
    page = Page(
        number=rendered.number,
        width=rendered.width,
        height=rendered.height,
        unit=rendered.unit,
        status=PageStatus.FAILED,
        method=PageMethod.NONE,
        error=ErrorInfo(type=info.type, message=redact_urls(info.message), retryable=info.retryable),
    )
    return PageResult(page)


def to_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr[:, :, ::-1])


def pipeline_page_markdown(res: Any, image_paths: dict[str, str]) -> str:
    """The pipeline's own Markdown of one page (``res.markdown``, as its demo and service write it),
    its picture links pointed at the crops docwatch writes (``images/pN_i.png``)."""
    text = res.markdown["markdown_texts"]
    for theirs, ours in image_paths.items():
        text = text.replace(theirs, ours)
    return text
