"""How the Paddle engine builds its pipeline and describes itself. No paddleocr import.

* ``engine_info``: name, version and every option that shaped the output, as recorded in each
  manifest and document (the VL server URL with any credentials redacted);
* ``vl_kwargs`` / ``structure_kwargs``: the constructor arguments of ``PaddleOCRVL`` /
  ``PPStructureV3``, every model pointed at a resolved local directory;
* ``predict_kwargs``: the ``predict()`` options (PaddleOCR-VL only; PP-StructureV3 has others).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from processor.engines.paddle import models
from processor.document import EngineInfo
from processor.errors import EngineUnavailable
from processor.options import ConvertOptions, EngineName, PaddleEngineOptions, VlBackend
from processor.redact import redact_url
from processor.versions import package_version

OptionValue = str | int | float | bool | None


def pipeline_name(kind: EngineName, paddle: PaddleEngineOptions) -> str:
    if kind is EngineName.PP_STRUCTURE_V3:
        return "PP-StructureV3"
    return models.VL_PIPELINE_NAMES.get(paddle.pipeline_version, paddle.pipeline_version)


def switches(paddle: PaddleEngineOptions) -> dict[str, bool]:
    """The pipeline switches, passed to the pipeline and recorded in every manifest."""
    return {
        "use_layout_detection": paddle.use_layout_detection,
        "use_doc_orientation_classify": paddle.use_doc_orientation_classify,
        "use_doc_unwarping": paddle.use_doc_unwarping,
        "use_chart_recognition": paddle.use_chart_recognition,
        "use_seal_recognition": paddle.use_seal_recognition,
    }


def engine_info(
    kind: EngineName, paddle: PaddleEngineOptions, extra: dict[str, OptionValue] | None = None
) -> EngineInfo:
    opts: dict[str, OptionValue] = {
        "pipeline": pipeline_name(kind, paddle),
        "device": paddle.device,
        **switches(paddle),
        "merge_pages": paddle.merge_pages and kind is EngineName.PADDLEOCR_VL,
        "render_dpi": paddle.render_dpi,
        "text_from_pdf": paddle.text_from_pdf.value,
        "paddlex": package_version("paddlex"),
        "paddlepaddle": package_version("paddlepaddle-gpu") or package_version("paddlepaddle"),
    }
    if kind is EngineName.PADDLEOCR_VL:
        opts.update(
            {
                "pipeline_version": paddle.pipeline_version,
                "markdown": paddle.markdown.value,
                "vl_rec_backend": paddle.vl_rec_backend.value,
                "vl_rec_server_url": redact_url(paddle.vl_rec_server_url)
                if paddle.vl_rec_server_url
                else None,
                "vl_rec_api_model_name": paddle.vl_rec_api_model_name,
                "vl_rec_model": models.VL_REC_MODELS.get(paddle.pipeline_version),
                "layout_model": models.VL_LAYOUT_MODELS.get(paddle.pipeline_version)
                if paddle.use_layout_detection
                else None,
                **paddle.recorded(),
            }
        )
    opts.update(extra or {})
    return EngineInfo(name=kind.value, version=package_version("paddleocr") or "unknown", options=opts)


def check_models(kind: EngineName, options: ConvertOptions) -> dict[str, Path]:
    """Resolve every model dir the configured pipeline loads; EngineUnavailable if one is absent."""
    p = options.paddle
    found, missing = {}, []
    for spec in models.required_models(options):
        status = models.resolve(spec, p)
        if status.ok and status.path is not None:
            found[spec.name] = status.path
        else:
            missing.append(f"{spec.name} ({spec.role}): {status.problem}")
    if missing:
        hint = (
            "set DOCWATCH_PADDLE__MODEL_DIR to a directory holding them (fill one with "
            "`docwatch models fetch --cache-home DIR`, models in DIR/official_models) or the per-model "
            "*_model_dir settings"
        )
        if p.vl_rec_backend is VlBackend.NATIVE and kind is EngineName.PADDLEOCR_VL:
            hint += "; or use a VL server (DOCWATCH_PADDLE__VL_REC_BACKEND=vllm-server)"
        raise EngineUnavailable(f"{pipeline_name(kind, p)}: model directory missing: {'; '.join(missing)}; {hint}")
    return found


def _dir(dirs: dict[str, Path], name: str) -> str | None:
    path = dirs.get(name)
    return str(path) if path else None


def vl_kwargs(paddle: PaddleEngineOptions, dirs: dict[str, Path], *, streamed: bool = True) -> dict[str, Any]:
    """``streamed``: the pipeline takes pages one at a time from docwatch's page stream
    (``stream``): its own config, with the top-level ``batch_size`` 1 instead of 64, so a
    page enters at once rather than when 64 have arrived. Layout detection and the VL worker keep
    their own batching (``SubModules``), which is where the GPU's batches form."""
    v = paddle.pipeline_version
    kwargs: dict[str, Any] = {
        "pipeline_version": v,
        "device": paddle.device,
        **switches(paddle),
        "layout_detection_model_dir": _dir(dirs, models.VL_LAYOUT_MODELS[v]),
        "vl_rec_model_dir": _dir(dirs, models.VL_REC_MODELS[v]),
        "doc_orientation_classify_model_dir": _dir(dirs, models.DOC_ORIENTATION_MODEL),
        "doc_unwarping_model_dir": _dir(dirs, models.DOC_UNWARPING_MODEL),
        "vl_rec_backend": paddle.vl_rec_backend.value,
        "vl_rec_server_url": paddle.vl_rec_server_url,
        "vl_rec_max_concurrency": paddle.vl_rec_max_concurrency,
        "vl_rec_api_model_name": paddle.vl_rec_api_model_name,
        "vl_rec_api_key": paddle.vl_rec_api_key.get_secret_value() if paddle.vl_rec_api_key else None,
        "markdown_ignore_labels": paddle.markdown_ignore_labels,
    }
    if streamed:
        from paddlex.inference import load_pipeline_config

        config = {**load_pipeline_config(models.VL_PIPELINE_NAMES[v]), "batch_size": 1}
        if paddle.vl_rec_max_concurrency and paddle.vl_rec_backend is not VlBackend.NATIVE:
            # The VL worker collects boxes for 0.5 s or until it holds its batch size (8192 for a
            # server), sends them, and waits for every answer before it collects again. A batch
            # larger than the requests the client sends at once only queues in the client while
            # the worker stops collecting; a batch of that size is sent as soon as it is there.
            vl = {**config["SubModules"]["VLRecognition"], "batch_size": paddle.vl_rec_max_concurrency}
            config["SubModules"] = {**config["SubModules"], "VLRecognition": vl}
        kwargs["paddlex_config"] = config
    return {k: v for k, v in kwargs.items() if v is not None}


def predict_kwargs(kind: EngineName, paddle: PaddleEngineOptions) -> dict[str, Any]:
    return paddle.predict_kwargs() if kind is EngineName.PADDLEOCR_VL else {}


def structure_kwargs(paddle: PaddleEngineOptions, dirs: dict[str, Path]) -> dict[str, Any]:
    """PP-StructureV3: its config tree, every model_dir pointed at our resolved dirs (a module
    we did not resolve gets a non-existent dir, so paddlex fails instead of downloading)."""
    from paddlex.inference import load_pipeline_config

    config = load_pipeline_config("PP-StructureV3")
    root = paddle.model_dir or models.default_cache_home() / "official_models"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "model_name" in node:
                name = node["model_name"]
                node["model_dir"] = _dir(dirs, name) or str(Path(root) / name)
            for value in node.values():
                walk(value)

    walk(config)
    return {
        "paddlex_config": config,
        "device": paddle.device,
        "use_doc_orientation_classify": paddle.use_doc_orientation_classify,
        "use_doc_unwarping": paddle.use_doc_unwarping,
        "use_chart_recognition": paddle.use_chart_recognition,
        "use_seal_recognition": paddle.use_seal_recognition,
    }

