"""Typed conversion options: one model per engine, one umbrella for a conversion."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator


def split_list(value: object) -> object:
    """A list setting from the environment: JSON (``["*.pdf"]``) or comma-separated (``*.pdf,*.png``)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class EngineName(StrEnum):
    CPU = "cpu"
    PADDLEOCR_VL = "paddleocr-vl"
    PP_STRUCTURE_V3 = "pp-structurev3"


class CpuEngineOptions(BaseModel):
    """The embedded default: PDF text layer where it is good, Tesseract OCR elsewhere."""

    ocr_languages: str = Field("rus+eng", description="Tesseract language packs, '+'-joined")
    ocr_dpi: int = Field(300, ge=72, le=600, description="render DPI for pages that need OCR")
    force_ocr: bool = Field(False, description="OCR every page even when its text layer is good")
    page_workers: int = Field(
        0, ge=0, description="page-parallel worker processes; 0 = one per CPU this process may use (affinity, cgroup quota)"
    )


class VlBackend(StrEnum):
    NATIVE = "native"
    VLLM_SERVER = "vllm-server"
    SGLANG_SERVER = "sglang-server"
    FASTDEPLOY_SERVER = "fastdeploy-server"
    MLX_VLM_SERVER = "mlx-vlm-server"
    LLAMA_CPP_SERVER = "llama-cpp-server"


class LayoutShapeMode(StrEnum):
    AUTO = "auto"
    RECT = "rect"
    QUAD = "quad"
    POLY = "poly"


class LayoutMergeMode(StrEnum):
    LARGE = "large"
    SMALL = "small"
    UNION = "union"


class MarkdownOutput(StrEnum):
    DOCWATCH = "docwatch"  # <name>.md from docwatch's document model
    PIPELINE = "pipeline"  # <name>.md is the pipeline's own Markdown (res.markdown, concatenate_markdown_pages)
    BOTH = "both"  # docwatch's <name>.md and the pipeline's <name>.pipeline.md


class TextFromPdf(StrEnum):
    AUTO = "auto"  # text-like blocks take the PDF text layer's characters where it is sound
    OFF = "off"  # the VL model's text everywhere, as the official pipeline


class PromptLabel(StrEnum):
    """What the VL model is asked for when layout detection is off (the whole page is one block)."""

    OCR = "ocr"
    FORMULA = "formula"
    TABLE = "table"
    CHART = "chart"
    SPOTTING = "spotting"
    SEAL = "seal"


class PaddleSetupOptions(BaseModel):
    """How the pipeline is built: version, device, models, VL backend, docwatch's own page handling."""

    pipeline_version: str = Field(
        "v1.6", description="PaddleOCR-VL pipeline version: v1, v1.5, v1.6 (paddleocr 3.7's default is v1.6)"
    )
    device: str = Field("gpu:0", description="'gpu:0', 'cpu', ...")
    model_dir: Path | None = Field(
        None, description="root holding every model in <model_dir>/<model name>/ (baked into the image)"
    )
    layout_detection_model_dir: Path | None = Field(None, description="layout model dir (default: under model_dir)")
    vl_rec_model_dir: Path | None = Field(None, description="VL recogniser dir (not needed with a server backend)")
    doc_orientation_classify_model_dir: Path | None = Field(None, description="page orientation model dir")
    doc_unwarping_model_dir: Path | None = Field(None, description="unwarping model dir")
    vl_rec_backend: VlBackend = Field(VlBackend.NATIVE, description="native (in-process) or a server: vllm-server, sglang-server, ...")
    vl_rec_server_url: str | None = Field(None, description="OpenAI-compatible server URL for server backends, e.g. http://vllm:8000/v1")
    vl_rec_max_concurrency: int | None = Field(
        None, ge=1,
        description="requests each pipeline instance sends the VL server at once; with a server backend "
        "also its VL batch, sent as soon as it holds that many boxes (unset: paddlex's 200 requests, and "
        "batches collected for 0.5 s). Set it to what the server serves at once",
    )
    use_layout_detection: bool = Field(True, description="run PP-DocLayout first (off: whole page to the VL model)")
    use_doc_orientation_classify: bool = Field(False, description="turn rotated pages upright first")
    use_doc_unwarping: bool = Field(False, description="unwarp photographed pages first")
    use_chart_recognition: bool = Field(False, description="convert charts to tables")
    merge_pages: bool = Field(True, description="join pages with restructure_pages (tables across pages, titles)")
    keep_raw: bool = Field(True, description="keep the pipeline's raw JSON per page in the outputs")
    use_seal_recognition: bool = Field(False, description="recognise seals/stamps")
    markdown_ignore_labels: list[str] | None = Field(
        None, description="pipeline labels kept out of the Markdown reading order; None = pipeline default"
    )

    @field_validator("markdown_ignore_labels", mode="before")
    @classmethod
    def _split_labels(cls, value: object) -> object:
        return split_list(value)
    vl_rec_api_model_name: str | None = Field(None, description="model name the VL server serves (None = official)")
    vl_rec_api_key: SecretStr | None = Field(None, description="API key for the VL server, if it wants one; never logged")
    cache_dir: Path | None = Field(
        None, description="PADDLE_PDX_CACHE_HOME (when the env var is unset); default ~/.cache/docwatch/paddlex"
    )
    render_dpi: int = Field(144, ge=72, le=600, description="PDF page render DPI (paddlex renders at 144)")
    markdown: MarkdownOutput = Field(
        MarkdownOutput.DOCWATCH,
        description="PaddleOCR-VL: docwatch (<name>.md), pipeline (the pipeline's own Markdown as <name>.md) "
        "or both (+ <name>.pipeline.md)",
    )
    text_from_pdf: TextFromPdf = Field(
        TextFromPdf.AUTO,
        description="auto: on born-digital PDF pages with a sound text layer, text/title/list blocks take "
        "its characters (layout, tables, formulas stay the VL model's); off: the VL model's text",
    )
    pages_in_flight: int = Field(
        64, ge=1, le=1024,
        description="pages of all documents in flight inside the pipeline at once (rendered, not yet "
        "answered): keeps the VL server's batch full and bounds the pixels held",
    )
    pipelines: int = Field(
        2, ge=1, le=8,
        description="PaddleOCR-VL with a VL server backend: pipeline instances the pages are spread over. "
        "Its VL worker sends a batch and waits for all of it before collecting the next; with two, one "
        "collects while the other is answered. Each instance loads its own layout model (native backend: 1)",
    )


class PaddleEngineOptions(PaddleSetupOptions):
    """PaddleOCR-VL / PP-StructureV3. Defaults reproduce the official pipeline's defaults.

    The fields below the setup ones are ``PaddleOCRVL.predict()`` options (``PREDICT_OPTIONS``),
    passed through as given; ``None`` = the pipeline's own default (its config file, or the VL
    client's), which the description names."""

    layout_threshold: float | None = Field(None, ge=0, le=1, description="layout score threshold; None = pipeline config: 0.3 (v1: per class)")
    layout_nms: bool | None = Field(None, description="layout-aware NMS; None = pipeline config (true)")
    layout_unclip_ratio: float | tuple[float, float] | None = Field(
        None, description="enlarge layout boxes: one ratio or [w, h]; None = pipeline config ([1.0, 1.0])"
    )
    layout_merge_bboxes_mode: LayoutMergeMode | None = Field(
        None, description="large, small or union for every class; None = pipeline config (per class)"
    )
    layout_shape_mode: LayoutShapeMode = Field(LayoutShapeMode.AUTO, description="layout box shape: auto, rect, quad, poly")
    use_ocr_for_image_block: bool = Field(False, description="also read the text inside image blocks")
    use_queues: bool = Field(True, description="overlap layout detection and VL recognition in threads (pipeline config)")
    prompt_label: PromptLabel | None = Field(
        None, description="with layout detection off: ocr, formula, table, chart, spotting, seal; None = ocr"
    )
    format_block_content: bool = Field(False, description="format block content as Markdown in the pipeline's JSON")
    merge_layout_blocks: bool = Field(True, description="merge adjacent layout blocks before recognition")
    repetition_penalty: float | None = Field(None, gt=0, description="VL sampling; None = the server's default")
    temperature: float | None = Field(None, ge=0, description="VL sampling; None = 0 (greedy)")
    top_p: float | None = Field(None, gt=0, le=1, description="VL sampling; None = the server's default")
    min_pixels: int | None = Field(None, ge=1, description="VL image preprocessing; None = 112896")
    max_pixels: int | None = Field(None, ge=1, description="VL image preprocessing; None = 1003520")
    max_new_tokens: int | None = Field(None, ge=1, description="VL output limit per block; None = 4096")

    def predict_kwargs(self) -> dict:
        """The options for ``predict_iter``: set ones only, enums as their strings."""
        out = {}
        for name in PREDICT_OPTIONS:
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = value.value if isinstance(value, StrEnum) else list(value) if isinstance(value, tuple) else value
        return out

    def recorded(self) -> dict[str, str | int | float | bool | None]:
        """The options as recorded in every manifest (a [w, h] ratio as "w,h")."""
        out: dict[str, str | int | float | bool | None] = {}
        for name in PREDICT_OPTIONS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            out[name] = value.value if isinstance(value, StrEnum) else value
        return out


# the PaddleOCRVL.predict() options: every field below the set-up ones, in the order the README lists them
PREDICT_OPTIONS = tuple(n for n in PaddleEngineOptions.model_fields if n not in PaddleSetupOptions.model_fields)


class DocumentOptions(BaseModel):
    """What the typed document carries beyond its blocks (env ``DOCWATCH_DOCUMENT__…``). Named
    ``document``, not ``output``: ``DOCWATCH_OUTPUT`` is the daemon's output folder."""

    lines: bool = Field(
        False, description="give blocks their text lines (and words) with boxes and scores, where the engine reads lines"
    )
    review: bool = Field(
        False, description="the daemon also writes review.html beside the outputs: every page with its blocks drawn "
        "over it, beside its Markdown (as `docwatch review` makes)"
    )


class ConvertOptions(BaseModel):
    """One conversion's options; the daemon's ``Settings`` carries these same fields."""

    engine: EngineName = Field(EngineName.CPU, description="cpu (embedded default), paddleocr-vl, or pp-structurev3")
    engine_class: str | None = Field(
        None, description="module:Class of an Engine subclass used instead of the named engine (plug-ins, tests)"
    )
    cpu: CpuEngineOptions = Field(default_factory=CpuEngineOptions)
    paddle: PaddleEngineOptions = Field(default_factory=PaddleEngineOptions)
    document: DocumentOptions = Field(default_factory=DocumentOptions)
    figure_dpi: int = Field(144, ge=36, le=600, description="DPI of figure crops written beside the Markdown")
    max_pages: int = Field(5000, ge=1, description="documents with more pages fail with a clear error")
    max_image_pixels: int = Field(250_000_000, ge=1, description="page images larger than this fail")
    page_retries: int = Field(
        2, ge=0, description="a page whose failure may pass (VL server 503/429, a timeout) is tried again this often"
    )
