"""The typed document every engine produces: Document -> pages -> blocks.

Coordinates: every bbox is in the page's own coordinate space, given by
``Page.width``/``Page.height`` and ``Page.unit`` (PDF points for PDFs, pixels
for page images), origin top-left, y growing downwards.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from processor.redact import redact_urls

SCHEMA_VERSION = "1.2"  # 1.1: block id, lines, cells, caption_of; 1.2: page fallbacks


class BlockType(StrEnum):
    TITLE = "title"
    HEADING = "heading"  # level in Block.level (1 = top)
    TEXT = "text"
    LIST_ITEM = "list_item"
    TABLE = "table"
    FORMULA = "formula"
    CODE = "code"
    FIGURE = "figure"
    CHART = "chart"
    CAPTION = "caption"
    FOOTNOTE = "footnote"
    REFERENCE = "reference"
    HEADER = "header"
    FOOTER = "footer"
    PAGE_NUMBER = "page_number"

    @property
    def is_furniture(self) -> bool:
        """Page furniture repeats on every page and is not part of the reading order."""
        return self in _FURNITURE


_FURNITURE = frozenset({BlockType.HEADER, BlockType.FOOTER, BlockType.PAGE_NUMBER})
_PICTURES = frozenset({BlockType.FIGURE, BlockType.CHART})


class ContentKind(StrEnum):
    TEXT = "text"
    HTML = "html"
    LATEX = "latex"
    IMAGE = "image"


class PageUnit(StrEnum):
    POINT = "pt"
    PIXEL = "px"


class PageMethod(StrEnum):
    """How a page's content was obtained."""

    TEXT_LAYER = "text_layer"
    OCR = "ocr"
    VL = "vision_language"
    BLANK = "blank"
    NONE = "none"  # the page failed before any method ran


class PageStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


class BBox(BaseModel):
    model_config = ConfigDict(frozen=True)
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


class ImageRef(BaseModel):
    """A picture cut from the page; ``path`` is relative to the Markdown file."""

    path: str
    width: int
    height: int
    mime: str = "image/png"


class Word(BaseModel):
    text: str
    bbox: BBox
    confidence: float | None = Field(None, ge=0, le=1, description="the recogniser's score for the word, when it gives one")


class Line(BaseModel):
    """A line of text as the engine read it (with ``document.lines`` on)."""

    text: str
    bbox: BBox
    confidence: float | None = Field(None, ge=0, le=1, description="the recogniser's score for the line, when it gives one")
    words: list[Word] | None = Field(None, description="the line's words with their boxes, where the engine gives word boxes")


class TableCell(BaseModel):
    """One cell of a table block, at its place in the table's grid (rows/columns from 0; a cell
    spanning several rows or columns sits at its top-left one)."""

    row: int = Field(ge=0)
    col: int = Field(ge=0)
    row_span: int = Field(1, ge=1)
    col_span: int = Field(1, ge=1)
    header: bool = Field(False, description="a <th> cell")
    text: str
    bbox: BBox | None = Field(None, description="the cell's box where the engine knows it; None otherwise")


class Block(BaseModel):
    id: str | None = Field(
        None, description="'p{page}-b{index}': the page number and the block's position in page.blocks; "
        "set on every block of a converted page"
    )
    type: BlockType
    bbox: BBox
    order: int | None = Field(None, description="reading order on the page; None for page furniture")
    level: int | None = Field(None, ge=1, le=6, description="heading level, headings only")
    text: str | None = Field(
        None, description="the text; on a figure/chart beside its image: the text read inside it (e.g. a seal's)"
    )
    html: str | None = None
    latex: str | None = None
    image: ImageRef | None = None
    confidence: float | None = Field(
        None, ge=0, le=1,
        description="how sure the engine is of this block: PaddleOCR-VL / PP-StructureV3: the layout model's "
        "detection score (the lowest of the boxes merged into the block); CPU engine: the mean of Tesseract's word "
        "confidences for text read by OCR (tables on page images too), 1.0 for a sound text layer's blocks, tables "
        "and drawn figures, the layout model's score for figures on page images. None where no score exists: "
        "PaddleOCR-VL with layout detection off",
    )
    lines: list[Line] | None = Field(
        None,
        description="with document.lines on (DOCWATCH_DOCUMENT__LINES=true): the block's text lines with boxes, "
        "scores and, where given, words. None when off, and where the engine has no line boxes: PaddleOCR-VL's "
        "VL model reads a block as a whole (its blocks never carry lines); PP-StructureV3 gives its OCR lines "
        "(no words); the CPU engine gives lines and words on text blocks (Tesseract's, with its scores, or the "
        "text layer's at 1.0), none on tables (see cells) and figures",
    )
    cells: list[TableCell] | None = Field(
        None, description="tables: the cells of ``html`` on the table's grid (rowspan/colspan honoured)"
    )
    caption_of: str | None = Field(
        None, description="captions: the id of the figure, chart or table this caption belongs to (the nearest "
        "one above or below that overlaps it horizontally); None when there is none"
    )
    polygon: list[tuple[float, float]] | None = Field(
        None, description="the block's outline in page units when the layout model gives one (bbox is its hull)"
    )
    block_id: int | None = Field(None, ge=0, description="the engine's document-wide block number (PaddleOCR-VL)")
    group_id: int | None = Field(
        None,
        ge=0,
        description="block_id of the first piece of what this block belongs to (its own block_id if none): "
        "every piece of a table continued across pages has the first piece's",
    )

    @model_validator(mode="after")
    def _exactly_one_content(self) -> Block:
        present = [k for k in ContentKind if getattr(self, k.value) is not None]
        if present == [ContentKind.TEXT, ContentKind.IMAGE] and self.type in _PICTURES:
            present = [ContentKind.IMAGE]  # a picture with the text read inside it
        if len(present) != 1:
            raise ValueError(f"a block holds exactly one of text/html/latex/image, got {present}")
        if self.type.is_furniture and self.order is not None:
            raise ValueError("page furniture has no reading order")
        return self

    @property
    def content_kind(self) -> ContentKind:
        if self.image is not None:
            return ContentKind.IMAGE
        return next(k for k in ContentKind if getattr(self, k.value) is not None)


class ErrorInfo(BaseModel):
    type: str
    message: str
    retryable: bool = False

    @field_validator("message")
    @classmethod
    def _no_url_credentials(cls, message: str) -> str:  # errors quote URLs (VL server, endpoint)
        return redact_urls(message)


class TextLayerUse(BaseModel):
    """Whether a VL-engine page took its text blocks' characters from the PDF text layer."""

    used: bool = Field(description="the page's text layer was sound and used")
    reason: str = Field(description="why (not): 'text layer', 'no text layer', 'garbage text layer …', …")
    blocks: int = Field(0, ge=0, description="blocks whose characters came from the text layer")


class FallbackStage(StrEnum):
    """The stage of a page's conversion that was undone because it lost or scrambled text."""

    TABLE = "table"  # a table whose cells did not hold the words inside its box became text
    READING_ORDER = "reading_order"  # the column split's order gave way to the plain read's
    TEXT_LAYER = "text_layer"  # a text-layer region that disagreed with OCR was read by OCR
    PAGE = "page"  # nothing else held: the page is the plain read


class Fallback(BaseModel):
    """One stage undone on a page, with the check's figure before and after (0..1)."""

    stage: FallbackStage
    reason: str
    measure: str = Field(description="what the scores measure: 'recall' (share of the plain read's words kept) "
                         "or 'order' (share of kept words in the plain read's order)")
    score_before: float = Field(ge=0, le=1)
    score_after: float = Field(ge=0, le=1)


class Page(BaseModel):
    number: int = Field(ge=1, description="1-based page number in the source")
    width: float
    height: float
    unit: PageUnit
    status: PageStatus = PageStatus.OK
    method: PageMethod = PageMethod.NONE
    blocks: list[Block] = Field(default_factory=list)
    error: ErrorInfo | None = None
    seconds: float = 0.0
    fallbacks: list[Fallback] = Field(
        default_factory=list,
        description="stages undone on this page because the result lost or scrambled text a plain read of the "
        "page has (CPU engine; see docs/how-it-works.md)",
    )
    raw: dict | None = Field(None, description="engine's own per-page output, kept for debugging")
    text_layer: TextLayerUse | None = Field(
        None, description="PaddleOCR-VL on a PDF with text_from_pdf=auto: the text layer's part in this page"
    )
    # the pipeline's own Markdown of the page (PaddleOCR-VL with DOCWATCH_PADDLE__MARKDOWN=pipeline|both);
    # written as a Markdown file of its own, so not part of the JSON
    pipeline_markdown: str | None = Field(None, exclude=True)

    def reading_order(self) -> list[Block]:
        body = [b for b in self.blocks if b.order is not None]
        return sorted(body, key=lambda b: b.order or 0)

    @property
    def may_pass(self) -> bool:
        """Failed for a reason that may pass (a VL server's 503, a timeout): worth trying again."""
        return self.status is PageStatus.FAILED and self.error is not None and self.error.retryable


class InputFormat(StrEnum):
    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"


class SourceInfo(BaseModel):
    name: str
    format: InputFormat
    size: int
    sha256: str
    page_count: int
    repaired: bool = Field(False, description="the PDF was damaged (e.g. truncated) and MuPDF rebuilt it")


class EngineInfo(BaseModel):
    name: str
    version: str
    options: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _no_url_credentials(cls, options: dict) -> dict:  # recorded in every manifest and log
        return {k: redact_urls(v) if isinstance(v, str) else v for k, v in options.items()}


class Asset(BaseModel):
    """Binary output (a figure crop) referenced by an ImageRef; not part of the JSON."""

    path: str
    data: bytes
    mime: str = "image/png"


class Document(BaseModel):
    schema_version: str = SCHEMA_VERSION
    source: SourceInfo
    engine: EngineInfo
    pages: list[Page]
    assets: list[Asset] = Field(default_factory=list, exclude=True)

    @property
    def failed_pages(self) -> list[Page]:
        return [p for p in self.pages if p.status is PageStatus.FAILED]

    @property
    def ok(self) -> bool:
        """True when at least one page converted (partial success is still success)."""
        return any(p.status is PageStatus.OK for p in self.pages) or not self.pages
