"""PaddleOCR-VL (and PP-StructureV3) engine: the only module that imports ``paddleocr`` (lazily, in load)."""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from processor.document import Asset, EngineInfo, ImageRef, Page, PageMethod, PageStatus
from processor.engines.paddle import setup
from processor.engines.paddle import pdf_text, scores
from processor.engines.base import Engine, PageResult
from processor.engines.paddle.blocks import (
    PICTURE_LABELS,
    RawBlock,
    embedded_image_paths,
    figure_asset,
    map_page_blocks,
    rewrite_image_paths,
)
from processor.engines.paddle.stream import PageStreams, Ticket
from processor.engines.paddle.pages import (
    Record,
    Rendered,
    failed_result,
    pdf_figure,
    pipeline_page_markdown,
    render_page,
)
from processor.errors import EngineFailure, EngineUnavailable
from processor.engines.paddle.models import prepare_environment
from processor.options import ConvertOptions, EngineName, MarkdownOutput, TextFromPdf, VlBackend
from processor.redact import redact_urls
from processor.source import OpenedInput

log = logging.getLogger(__name__)

_INFRA_ERROR_NAMES = {"APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout", "ConnectionError"}
_INFRA_ERROR_TEXT = ("Connection error", "Failed to get the model list", "Connection refused")


class PaddleEngine(Engine):
    """PaddleOCR-VL or PP-StructureV3 as an ``Engine``: pages in, our typed pages out.

    Start-up never contacts a model hoster: ``PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True`` and a
    fixed ``PADDLE_PDX_CACHE_HOME`` are set before the import, and every model the pipeline loads
    is given as a local directory (``models`` resolves them); a missing one raises
    ``EngineUnavailable`` naming the directory. With a server ``vl_rec_backend`` the VL model stays
    on the server.

    Pages are rendered here (PyMuPDF at ``render_dpi``, 144 = paddlex's own PDF scale; page images
    at full resolution) by each document's own thread and fed as arrays into one ``predict_iter``
    shared by every document in flight (``stream``): memory is bounded by ``pages_in_flight``, not
    by documents or pages, and a page that breaks the pipeline is run again alone and fails alone.
    With ``merge_pages`` the per-page JSON results (no images) are joined at the end by the
    pipeline's own ``restructure_pages`` (tables continued across pages merged, title levels).

    The ``predict()`` options are passed through as set (``setup``; recorded in ``info`` with the
    VL server URL's credentials redacted). ``markdown=pipeline|both`` also keeps each page's own
    ``res.markdown`` for the pipeline's Markdown file; ``text_from_pdf=auto`` gives text-like
    blocks of born-digital pages the PDF's characters (``pdf_text``) after the pipeline's own
    restructuring, so neither the pipeline's Markdown nor its title levels change. ``run_bare``
    runs the pipeline as its demo does, for benchmarks.
    """

    def __init__(self, options: ConvertOptions, *, streamed: bool = True) -> None:
        super().__init__(options)
        self.streamed = streamed  # False: the pipeline's own batch size, for run_bare (benchmarks)
        self.p = options.paddle
        self.kind = options.engine if options.engine is not EngineName.CPU else EngineName.PADDLEOCR_VL
        self._pipelines: list[Any] = []  # one, or several fed in turn (stream)
        self.ready = False  # true once warm_up() converted a page
        self.model_dirs: dict[str, Path] = {}
        self._stream: PageStreams | None = None  # started by the first document, shared by all
        self._stream_lock = threading.Lock()

    # ------------------------------------------------------------------ info
    @functools.cached_property
    def info(self) -> EngineInfo:
        # once per engine: every document records it, and package versions come from metadata files;
        # lines only when on, so the checkpoints of conversions without them keep their names
        return setup.engine_info(self.kind, self.p, {"lines": True} if self.options.document.lines else None)

    @property
    def _pipeline_name(self) -> str:
        return setup.pipeline_name(self.kind, self.p)

    @property
    def _supports_merge(self) -> bool:
        return self.kind is EngineName.PADDLEOCR_VL

    # ------------------------------------------------------------------ load
    def check_models(self) -> dict[str, Path]:
        """Resolve every model dir the configured pipeline loads; EngineUnavailable if one is absent."""
        return setup.check_models(self.kind, self.options)

    @property
    def _pipeline(self) -> Any:
        return self._pipelines[0] if self._pipelines else None

    @property
    def _instances(self) -> int:
        """Pipeline instances to spread pages over: PaddleOCR-VL's VL worker waits for each batch.
        Only with a VL server: the native backend would load the VL model into each instance."""
        several = self.streamed and self.kind is EngineName.PADDLEOCR_VL and self.p.vl_rec_backend is not VlBackend.NATIVE
        return self.p.pipelines if several else 1

    def load(self) -> None:
        if self._pipelines:
            return
        if self.p.vl_rec_backend is not VlBackend.NATIVE and not self.p.vl_rec_server_url:
            raise EngineUnavailable(
                f"vl_rec_backend={self.p.vl_rec_backend.value} needs vl_rec_server_url "
                "(DOCWATCH_PADDLE__VL_REC_SERVER_URL, e.g. http://vllm:8118/v1)"
            )
        self.model_dirs = self.check_models()
        prepare_environment(self.p.cache_dir)
        try:
            import paddleocr
        except ImportError as exc:
            raise EngineUnavailable(
                f"paddleocr is not importable ({exc}); install 'paddleocr[doc-parser]==3.7.0' and paddlepaddle"
            ) from exc
        try:
            if self.kind is EngineName.PP_STRUCTURE_V3:
                self._pipelines = [paddleocr.PPStructureV3(**self._structure_kwargs())]
            else:
                kwargs = setup.vl_kwargs(self.p, self.model_dirs, streamed=self.streamed)
                self._pipelines = [paddleocr.PaddleOCRVL(**kwargs) for _ in range(self._instances)]
        except EngineUnavailable:
            raise
        except Exception as exc:
            raise EngineUnavailable(f"cannot create the {self._pipeline_name} pipeline: {redact_urls(str(exc))}") from exc
        log.info("paddle engine loaded: %s", self.info.options)  # URL credentials redacted

    def _structure_kwargs(self) -> dict[str, Any]:
        return setup.structure_kwargs(self.p, self.model_dirs)

    def warm_up(self) -> None:
        """Convert one small synthetic page end to end; ``ready`` turns true only after it."""
        self.load()
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (800, 240), "white")
        draw = ImageDraw.Draw(img)
        draw.text((40, 60), "docwatch warm-up 0123456789", fill="black")
        draw.text((40, 140), "Proverka gotovnosti", fill="black")
        started = time.monotonic()
        image = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
        for pipeline in self._pipelines:
            results = list(pipeline.predict_iter([image], **self._predict_kwargs))
            if len(results) != 1:
                raise EngineFailure(f"warm-up: the pipeline returned {len(results)} results for one page")
        log.info("paddle engine warm-up took %.1fs", time.monotonic() - started)
        self.ready = True

    def run_bare(self, path: Path) -> tuple[str, int]:
        """The pipeline as its own demo runs it, docwatch's page handling left out:
        ``predict(file)`` -> ``restructure_pages`` -> ``concatenate_markdown_pages``. Returns the
        Markdown and the page count (for benchmarks: the bare pipeline's pages/s on the same files)."""
        self.load()
        results = list(self._pipeline.predict(str(path), **self._predict_kwargs))
        pages = self._pipeline.restructure_pages(results) if self._supports_merge and self.p.merge_pages else results
        markdown = self._pipeline.concatenate_markdown_pages([res.markdown for res in pages]) if pages else ""
        return markdown, len(results)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        for pipeline in self._pipelines:
            try:
                pipeline.close()
            except Exception:  # closing must not mask the conversion's own outcome
                log.exception("closing the paddle pipeline failed")
        self._pipelines = []
        self.ready = False

    # ------------------------------------------------------------------ pages
    def pages(self, source: OpenedInput, only: Collection[int] | None = None) -> Iterator[PageResult]:
        """Render pages into the shared stream (``submit`` waits while ``pages_in_flight`` pages of
        all documents are inside it) and yield them in order as they come back."""
        stream = self._page_stream()
        merge = self.p.merge_pages and self._supports_merge
        kept: list[Record] = []
        blocks_before = 0
        window: deque[tuple[Rendered, Ticket | None]] = deque()
        todo = deque(i for i in range(source.info.page_count) if only is None or i + 1 in only)
        while todo or window:
            # keep this document's next pages submitted while its head page is being answered
            while todo and len(window) < self.p.pages_in_flight:
                rendered = self._render(source, todo.popleft())
                window.append((rendered, stream.submit(rendered.image) if rendered.error is None else None))
                rendered.image = None  # the ticket holds the pixels until they are answered
                if window[0][1] is not None and window[0][1].done:
                    break
            rendered, ticket = window.popleft()
            item = self._settled(source, rendered, ticket)
            if isinstance(item, PageResult):
                yield item
                continue
            if merge:  # the ids restructure_pages gives a block it leaves alone: revised pages are the changed ones
                for i, raw in enumerate(item.raws):
                    raw.global_block_id = raw.global_group_id = blocks_before + i
                blocks_before += len(item.raws)
            first = self._finish(item, item.raws)
            yield first  # streamed and checkpointed now; restructuring may revise it at the end
            if merge:
                item.assets, item.first = [], first.page  # the figures have left; the JSON stays
                kept.append(item)
        if kept:
            yield from self._restructure(kept)

    def _page_stream(self) -> PageStreams:
        self.load()
        with self._stream_lock:
            if self._stream is None:
                predicts = [functools.partial(p.predict_iter, **self._predict_kwargs) for p in self._pipelines]
                self._stream = PageStreams(predicts, self.p.pages_in_flight)
            return self._stream

    def _render(self, source: OpenedInput, index: int) -> Rendered:
        return render_page(source, index, self.p.render_dpi)

    def _settled(self, source: OpenedInput, rendered: Rendered, ticket: Ticket | None) -> Record | PageResult:
        """The page's outcome once its ticket is answered: a Record, or a failed page."""
        if ticket is not None:
            ticket.wait()
        outcome = rendered.error if ticket is None else ticket.error
        if outcome is not None:
            self._raise_if_infrastructure(outcome)
            log.warning("page %d failed: %s", rendered.number, redact_urls(str(outcome)))
            return failed_result(rendered, outcome)
        assert ticket is not None
        try:
            return self._record(source, rendered, ticket.result, ticket.seconds)
        except Exception as exc:  # a page whose result cannot be mapped fails alone
            log.exception("page %d: mapping the pipeline result failed", rendered.number)
            return failed_result(rendered, exc)

    @property
    def _predict_kwargs(self) -> dict[str, Any]:
        return setup.predict_kwargs(self.kind, self.p)

    def _raise_if_infrastructure(self, exc: BaseException) -> None:
        seen: BaseException | None = exc
        while seen is not None:
            if type(seen).__name__ in _INFRA_ERROR_NAMES or any(t in str(seen) for t in _INFRA_ERROR_TEXT):
                url = redact_urls(self.p.vl_rec_server_url or "")
                raise EngineFailure(f"the VL recognition server {url} failed: {redact_urls(str(exc))}") from exc
            seen = seen.__cause__ or seen.__context__

    def _record(self, source: OpenedInput, rendered: Rendered, res: Any, seconds: float) -> Record:
        raw = res.json["res"] if hasattr(res, "json") else dict(res)
        blocks = list(res["parsing_res_list"])
        raws = [RawBlock.from_pipeline(b, i) for i, b in enumerate(blocks)]
        scores.attach(raws, raw, lines=self.options.document.lines)
        record = Record(rendered=rendered, raw=raw, raws=raws, seconds=seconds)
        if source.is_pdf and self.p.text_from_pdf is TextFromPdf.AUTO:
            record.text_layer = pdf_text.read_page(source.doc[rendered.number - 1], raws, rendered.scale)
        for raw_block in raws:
            if raw_block.image is not None and raw_block.label in PICTURE_LABELS:
                asset, ref = self._figure(source, rendered, raw_block)
                record.assets.append(asset)
                record.images[raw_block.index] = ref
                if raw_block.image_path:
                    record.image_paths[raw_block.image_path] = ref.path
            raw_block.image = None
        self._embedded_figures(res, record)
        if self._pipeline_markdown:  # with merge_pages, restructuring may revise it
            record.pipeline_markdown = pipeline_page_markdown(res, record.image_paths)
        return record

    @property
    def _pipeline_markdown(self) -> bool:
        return self.p.markdown is not MarkdownOutput.DOCWATCH and self.kind is EngineName.PADDLEOCR_VL

    def _figure(self, source: OpenedInput, rendered: Rendered, raw: RawBlock) -> tuple[Asset, ImageRef]:
        """PDF figures are cut again from the PDF at ``figure_dpi``; image inputs use the pipeline's crop."""
        if source.is_pdf:
            cut_out = pdf_figure(source, rendered, raw, self.options.figure_dpi)
            if cut_out is not None:
                return cut_out
        return figure_asset(raw.image, rendered.number, raw.index)

    def _embedded_figures(self, res: Any, record: Record) -> None:
        """Figures inside tables: the table HTML references ``imgs/…``; write them as assets too."""
        wanted = {p for b in record.raws if b.label == "table" for p in embedded_image_paths(b.content)}
        if not wanted:
            return
        mapping: dict[str, str] = {}
        for item in res.get("imgs_in_doc", None) or []:
            path = item.get("path")
            if path in wanted and path not in mapping and item.get("img") is not None:
                asset, _ = figure_asset(item["img"], record.rendered.number, len(record.raws) + len(mapping))
                record.assets.append(asset)
                mapping[path] = asset.path
        record.image_paths.update(mapping)
        for b in record.raws:
            if b.label == "table":
                b.content = rewrite_image_paths(b.content, mapping)

    def _finish(self, rec: Record, raws: list[RawBlock]) -> PageResult:
        r = rec.rendered
        text_layer = pdf_text.apply(raws, rec.text_layer)
        blocks = map_page_blocks(
            raws, scale=r.scale, images=rec.images, markdown_ignore_labels=self.p.markdown_ignore_labels
        )
        page = Page(number=r.number, width=r.width, height=r.height, unit=r.unit, status=PageStatus.OK,
                    method=PageMethod.VL, blocks=blocks, seconds=round(rec.seconds, 3),
                    raw=rec.raw if self.p.keep_raw else None, pipeline_markdown=rec.pipeline_markdown,
                    text_layer=text_layer)
        return PageResult(page, rec.assets)

    def _restructure(self, records: list[Record]) -> Iterator[PageResult]:
        """The pipeline's ``restructure_pages`` over this attempt's pages (tables continued across
        pages merged, title levels assigned): the pages it changed, as revised versions."""
        try:
            merged = self._merge(records)
        except Exception:  # restructuring improves pages; it is never a reason to fail them
            log.exception("restructure_pages failed; the pages are kept unmerged")
            return
        for rec in records:
            page = self._finish(rec, merged.get(rec.rendered.number, rec.raws)).page
            if page != rec.first:
                yield PageResult(page, revised=True)

    def _merge(self, records: list[Record]) -> dict[int, list[RawBlock]]:
        """Run the pipeline's restructure_pages over the pages' JSON; map blocks back by global id."""
        inputs, offsets, offset = [], [], 0
        for rec in records:
            res = copy.deepcopy(rec.raw)
            for raw_block, json_block in zip(rec.raws, res.get("parsing_res_list", []), strict=False):
                json_block["block_content"] = raw_block.content  # embedded figure paths rewritten
            inputs.append({"res": res})
            offsets.append(offset)
            offset += len(rec.raws)
        out = self._pipeline.restructure_pages(inputs, merge_tables=True, relevel_titles=True, concatenate_pages=False)
        merged: dict[int, list[RawBlock]] = {}
        for rec, base, page_res in zip(records, offsets, out, strict=True):
            raws = []
            for pos, obj in enumerate(page_res["parsing_res_list"]):
                gid = getattr(obj, "global_block_id", None)
                index = gid - base if gid is not None else pos
                raws.append(scores.carry(rec.raws, RawBlock.from_pipeline(obj, index)))
            merged[rec.rendered.number] = raws
            if self._pipeline_markdown:
                rec.pipeline_markdown = pipeline_page_markdown(page_res, rec.image_paths)
        return merged

