"""PaddleOCR-VL (and PP-StructureV3) engine. The only module that imports ``paddleocr`` — lazily, in load().

Start-up never contacts a model hoster: ``PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True`` and a fixed
``PADDLE_PDX_CACHE_HOME`` are set before the import, and every model the pipeline loads is given as
a local directory (``processor.models`` resolves them); a missing one raises ``EngineUnavailable``
naming the directory. With ``vl_rec_backend`` a server backend the VL model stays on the server.

Pages are rendered here (PyMuPDF at ``render_dpi``, 144 = paddlex's own PDF scale; page images at
full resolution), ``page_batch_size`` at a time, and fed to ``predict_iter`` as arrays — memory is
bounded by the batch, not the document. A failing batch is retried page by page so one bad page
fails alone. With ``merge_pages`` the per-page JSON results (no images) are joined at the end by the
pipeline's own ``restructure_pages`` (tables continued across pages merged, title levels assigned).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Collection, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from processor import models
from processor.document import Asset, EngineInfo, ImageRef, Page, PageMethod, PageStatus
from processor.engines.base import Engine, PageResult
from processor.engines.paddle_blocks import (
    PICTURE_LABELS,
    RawBlock,
    embedded_image_paths,
    figure_asset,
    map_page_blocks,
    rewrite_image_paths,
)
from processor.engines.paddle_pages import Record, Rendered, failed_result, pdf_figure, render_page
from processor.errors import EngineFailure, EngineUnavailable
from processor.models import prepare_environment
from processor.options import ConvertOptions, EngineName, VlBackend
from processor.source import Source

log = logging.getLogger(__name__)

_INFRA_ERROR_NAMES = {"APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout", "ConnectionError"}
_INFRA_ERROR_TEXT = ("Connection error", "Failed to get the model list", "Connection refused")


class PaddleEngine(Engine):
    def __init__(self, options: ConvertOptions) -> None:
        super().__init__(options)
        self.p = options.paddle
        self.kind = options.engine if options.engine is not EngineName.CPU else EngineName.PADDLEOCR_VL
        self._pipeline: Any = None
        self.ready = False  # true once warm_up() converted a page
        self.model_dirs: dict[str, Path] = {}

    # ------------------------------------------------------------------ info
    @property
    def info(self) -> EngineInfo:
        p = self.p
        opts: dict[str, str | int | float | bool | None] = {
            "pipeline": self._pipeline_name,
            "device": p.device,
            **self._switches(),
            "merge_pages": p.merge_pages and self._supports_merge,
            "render_dpi": p.render_dpi,
            "paddlex": _version("paddlex"),
            "paddlepaddle": _version("paddlepaddle-gpu") or _version("paddlepaddle"),
        }
        if self.kind is EngineName.PADDLEOCR_VL:
            opts.update(
                {
                    "pipeline_version": p.pipeline_version,
                    "vl_rec_backend": p.vl_rec_backend.value,
                    "vl_rec_server_url": p.vl_rec_server_url,
                    "vl_rec_model": models.VL_REC_MODELS.get(p.pipeline_version),
                    "layout_model": models.VL_LAYOUT_MODELS.get(p.pipeline_version)
                    if p.use_layout_detection
                    else None,
                }
            )
        return EngineInfo(name=self.kind.value, version=_version("paddleocr") or "unknown", options=opts)

    @property
    def _pipeline_name(self) -> str:
        if self.kind is EngineName.PP_STRUCTURE_V3:
            return "PP-StructureV3"
        return models.VL_PIPELINE_NAMES.get(self.p.pipeline_version, self.p.pipeline_version)

    @property
    def _supports_merge(self) -> bool:
        return self.kind is EngineName.PADDLEOCR_VL

    # ------------------------------------------------------------------ load
    def check_models(self) -> dict[str, Path]:
        """Resolve every model dir the configured pipeline loads; EngineUnavailable if one is absent."""
        found, missing = {}, []
        for spec in models.required_models(self.options):
            status = models.resolve(spec, self.p)
            if status.ok and status.path is not None:
                found[spec.name] = status.path
            else:
                missing.append(f"{spec.name} ({spec.role}): {status.problem}")
        if missing:
            hint = (
                "set DOCWATCH_PADDLE__MODEL_DIR to a directory holding them (fill one with "
                "`docwatch models fetch --dir DIR`) or the per-model *_model_dir settings"
            )
            if self.p.vl_rec_backend is VlBackend.NATIVE and self.kind is EngineName.PADDLEOCR_VL:
                hint += "; or use a VL server (DOCWATCH_PADDLE__VL_REC_BACKEND=vllm-server)"
            raise EngineUnavailable(f"{self._pipeline_name}: model directory missing: {'; '.join(missing)}; {hint}")
        return found

    def load(self) -> None:
        if self._pipeline is not None:
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
                self._pipeline = paddleocr.PPStructureV3(**self._structure_kwargs())
            else:
                self._pipeline = paddleocr.PaddleOCRVL(**self._vl_kwargs())
        except EngineUnavailable:
            raise
        except Exception as exc:
            raise EngineUnavailable(f"cannot create the {self._pipeline_name} pipeline: {exc}") from exc
        log.info("paddle engine loaded: %s", self.info.options)

    def _dir(self, name: str) -> str | None:
        path = self.model_dirs.get(name)
        return str(path) if path else None

    def _switches(self) -> dict[str, bool]:
        """The pipeline switches, passed to the pipeline and recorded in every manifest."""
        p = self.p
        return {
            "use_layout_detection": p.use_layout_detection,
            "use_doc_orientation_classify": p.use_doc_orientation_classify,
            "use_doc_unwarping": p.use_doc_unwarping,
            "use_chart_recognition": p.use_chart_recognition,
            "use_seal_recognition": p.use_seal_recognition,
        }

    def _vl_kwargs(self) -> dict[str, Any]:
        p, v = self.p, self.p.pipeline_version
        kwargs: dict[str, Any] = {
            "pipeline_version": v,
            "device": p.device,
            **self._switches(),
            "layout_detection_model_dir": self._dir(models.VL_LAYOUT_MODELS[v]),
            "vl_rec_model_dir": self._dir(models.VL_REC_MODELS[v]),
            "doc_orientation_classify_model_dir": self._dir(models.DOC_ORIENTATION_MODEL),
            "doc_unwarping_model_dir": self._dir(models.DOC_UNWARPING_MODEL),
            "vl_rec_backend": p.vl_rec_backend.value,
            "vl_rec_server_url": p.vl_rec_server_url,
            "vl_rec_max_concurrency": p.vl_rec_max_concurrency,
            "vl_rec_api_model_name": p.vl_rec_api_model_name,
            "vl_rec_api_key": p.vl_rec_api_key.get_secret_value() if p.vl_rec_api_key else None,
            "markdown_ignore_labels": p.markdown_ignore_labels,
        }
        return {k: v for k, v in kwargs.items() if v is not None}

    def _structure_kwargs(self) -> dict[str, Any]:
        """PP-StructureV3: its config tree, every model_dir pointed at our resolved dirs (a module
        we did not resolve gets a non-existent dir, so paddlex fails instead of downloading)."""
        from paddlex.inference import load_pipeline_config

        config = load_pipeline_config("PP-StructureV3")
        root = self.p.model_dir or models.default_cache_home() / "official_models"

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "model_name" in node:
                    name = node["model_name"]
                    node["model_dir"] = self._dir(name) or str(Path(root) / name)
                for value in node.values():
                    walk(value)

        walk(config)
        p = self.p
        return {
            "paddlex_config": config,
            "device": p.device,
            "use_doc_orientation_classify": p.use_doc_orientation_classify,
            "use_doc_unwarping": p.use_doc_unwarping,
            "use_chart_recognition": p.use_chart_recognition,
            "use_seal_recognition": p.use_seal_recognition,
        }

    def warm_up(self) -> None:
        """Convert one small synthetic page end to end; ``ready`` turns true only after it."""
        self.load()
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (800, 240), "white")
        draw = ImageDraw.Draw(img)
        draw.text((40, 60), "docwatch warm-up 0123456789", fill="black")
        draw.text((40, 140), "Proverka gotovnosti", fill="black")
        started = time.monotonic()
        results = list(self._pipeline.predict_iter([np.ascontiguousarray(np.asarray(img)[:, :, ::-1])]))
        if len(results) != 1:
            raise EngineFailure(f"warm-up: the pipeline returned {len(results)} results for one page")
        log.info("paddle engine warm-up took %.1fs", time.monotonic() - started)
        self.ready = True

    def close(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.close()
            except Exception:  # closing must not mask the conversion's own outcome
                log.exception("closing the paddle pipeline failed")
            self._pipeline = None
        self.ready = False

    # ------------------------------------------------------------------ pages
    def pages(self, source: Source, only: Collection[int] | None = None) -> Iterator[PageResult]:
        self.load()
        merge = self.p.merge_pages and self._supports_merge
        kept: list[Record | PageResult] = []
        indices = [i for i in range(source.info.page_count) if only is None or i + 1 in only]
        for start in range(0, len(indices), self.p.page_batch_size):
            batch = [self._render(source, i) for i in indices[start : start + self.p.page_batch_size]]
            for item in self._convert_batch(source, batch):
                if merge:
                    kept.append(item)
                else:
                    yield item if isinstance(item, PageResult) else self._finish(item, item.raws)
            del batch
        if merge:
            yield from self._restructure(kept)

    def _render(self, source: Source, index: int) -> Rendered:
        return render_page(source, index, self.p.render_dpi)

    def _convert_batch(self, source: Source, batch: list[Rendered]) -> list[Record | PageResult]:
        todo = [r for r in batch if r.error is None]
        outcomes: dict[int, Any] = {}
        if todo:
            started = time.monotonic()
            try:
                results = self._predict([r.image for r in todo])
                per_page = (time.monotonic() - started) / len(todo)
                outcomes = {r.number: (res, per_page) for r, res in zip(todo, results, strict=True)}
            except Exception as exc:  # noqa: BLE001 - any failure of one batch: retry page by page
                self._raise_if_infrastructure(exc)
                if len(todo) == 1:
                    outcomes = {todo[0].number: exc}
                else:  # isolate the bad page(s)
                    for r in todo:
                        started = time.monotonic()
                        try:
                            (res,) = self._predict([r.image])
                            outcomes[r.number] = (res, time.monotonic() - started)
                        except Exception as page_exc:  # noqa: BLE001 - the page's own failure, recorded on it
                            self._raise_if_infrastructure(page_exc)
                            outcomes[r.number] = page_exc
        out: list[Record | PageResult] = []
        for r in batch:
            outcome = r.error if r.error is not None else outcomes[r.number]
            if isinstance(outcome, BaseException):
                log.warning("page %d failed: %s", r.number, outcome)
                out.append(failed_result(r, outcome))
                continue
            try:
                out.append(self._record(source, r, *outcome))
            except Exception as exc:  # a page whose result cannot be mapped fails alone
                log.exception("page %d: mapping the pipeline result failed", r.number)
                out.append(failed_result(r, exc))
            r.image = None  # release the pixels
        return out

    def _predict(self, images: list[np.ndarray]) -> list[Any]:
        results = list(self._pipeline.predict_iter(images))
        for res in results:
            if isinstance(res, dict) and "error" in res and "parsing_res_list" not in res:
                raise EngineFailure(str(res["error"]))
        if len(results) != len(images):
            raise EngineFailure(f"the pipeline returned {len(results)} results for {len(images)} pages")
        return results

    def _raise_if_infrastructure(self, exc: BaseException) -> None:
        seen: BaseException | None = exc
        while seen is not None:
            if type(seen).__name__ in _INFRA_ERROR_NAMES or any(t in str(seen) for t in _INFRA_ERROR_TEXT):
                raise EngineFailure(
                    f"the VL recognition server {self.p.vl_rec_server_url or ''} failed: {exc}"
                ) from exc
            seen = seen.__cause__ or seen.__context__

    def _record(self, source: Source, r: Rendered, res: Any, seconds: float) -> Record:
        raw = res.json["res"] if hasattr(res, "json") else dict(res)
        blocks = list(res["parsing_res_list"])
        raws = [RawBlock.from_pipeline(b, i) for i, b in enumerate(blocks)]
        record = Record(rendered=r, raw=raw, raws=raws, seconds=seconds)
        for raw_block in raws:
            if raw_block.image is not None and raw_block.label in PICTURE_LABELS:
                asset, ref = self._figure(source, r, raw_block)
                record.assets.append(asset)
                record.images[raw_block.index] = ref
            raw_block.image = None
        self._embedded_figures(res, record)
        return record

    def _figure(self, source: Source, r: Rendered, raw: RawBlock) -> tuple[Asset, ImageRef]:
        """PDF figures are cut again from the PDF at ``figure_dpi``; image inputs use the pipeline's crop."""
        if source.is_pdf:
            cut_out = pdf_figure(source, r, raw, self.options.figure_dpi)
            if cut_out is not None:
                return cut_out
        return figure_asset(raw.image, r.number, raw.index)

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
        for b in record.raws:
            if b.label == "table":
                b.content = rewrite_image_paths(b.content, mapping)

    def _finish(self, rec: Record, raws: list[RawBlock]) -> PageResult:
        r = rec.rendered
        blocks = map_page_blocks(
            raws, scale=r.scale, images=rec.images, markdown_ignore_labels=self.p.markdown_ignore_labels
        )
        page = Page(number=r.number, width=r.width, height=r.height, unit=r.unit, status=PageStatus.OK,
                    method=PageMethod.VL, blocks=blocks, seconds=round(rec.seconds, 3),
                    raw=rec.raw if self.p.keep_raw else None)
        return PageResult(page, rec.assets)

    def _restructure(self, kept: list[Record | PageResult]) -> Iterator[PageResult]:
        records = [k for k in kept if isinstance(k, Record)]
        merged: dict[int, list[RawBlock]] = {}
        if records:
            try:
                merged = self._merge(records)
            except Exception:  # restructuring improves pages; it is never a reason to fail them
                log.exception("restructure_pages failed; the pages are kept unmerged")
        for item in kept:
            if isinstance(item, PageResult):
                yield item
            else:
                yield self._finish(item, merged.get(item.rendered.number, item.raws))

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
                raw_block = RawBlock.from_pipeline(obj, index)
                raws.append(raw_block)
            merged[rec.rendered.number] = raws
        return merged


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
