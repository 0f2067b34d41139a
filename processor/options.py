"""Typed conversion options: one model per engine, one umbrella for a conversion."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class EngineName(StrEnum):
    CPU = "cpu"
    PADDLEOCR_VL = "paddleocr-vl"
    PP_STRUCTURE_V3 = "pp-structurev3"


class CpuEngineOptions(BaseModel):
    """The embedded default: PDF text layer where it is good, Tesseract OCR elsewhere."""

    ocr_languages: str = Field("rus+eng", description="Tesseract language packs, '+'-joined")
    ocr_dpi: int = Field(300, ge=72, le=600, description="render DPI for pages that need OCR")
    force_ocr: bool = Field(False, description="OCR every page even when its text layer is good")
    page_workers: int = Field(0, ge=0, description="page-parallel worker processes; 0 = one per core")


class VlBackend(StrEnum):
    NATIVE = "native"
    VLLM_SERVER = "vllm-server"
    SGLANG_SERVER = "sglang-server"
    FASTDEPLOY_SERVER = "fastdeploy-server"
    MLX_VLM_SERVER = "mlx-vlm-server"
    LLAMA_CPP_SERVER = "llama-cpp-server"


class PaddleEngineOptions(BaseModel):
    """PaddleOCR-VL / PP-StructureV3. Defaults reproduce the official pipeline's defaults."""

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
    vl_rec_max_concurrency: int | None = Field(None, ge=1, description="parallel requests to the VL server")
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
    vl_rec_api_model_name: str | None = Field(None, description="model name the VL server serves (None = official)")
    vl_rec_api_key: SecretStr | None = Field(None, description="API key for the VL server, if it wants one; never logged")
    cache_dir: Path | None = Field(
        None, description="PADDLE_PDX_CACHE_HOME (when the env var is unset); default ~/.cache/docwatch/paddlex"
    )
    render_dpi: int = Field(144, ge=72, le=600, description="PDF page render DPI (paddlex renders at 144)")
    page_batch_size: int = Field(
        8, ge=1, le=64, description="pages rendered and sent to the pipeline together (bounds memory)"
    )


class ConvertOptions(BaseModel):
    engine: EngineName = EngineName.CPU
    engine_class: str | None = Field(None, description="module:Class of an Engine used instead of ``engine``")
    cpu: CpuEngineOptions = Field(default_factory=CpuEngineOptions)
    paddle: PaddleEngineOptions = Field(default_factory=PaddleEngineOptions)
    figure_dpi: int = Field(144, ge=36, le=600, description="DPI of figure crops written beside the Markdown")
    max_pages: int = Field(5000, ge=1, description="refuse documents with more pages")
    max_image_pixels: int = Field(250_000_000, ge=1, description="refuse page images larger than this")
    page_retries: int = Field(2, ge=0, description="tries again for a page whose failure may pass (VL server 503, timeout)")
