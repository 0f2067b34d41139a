"""Every ``PaddleOCRVL.predict()`` option is a ``DOCWATCH_PADDLE__*`` setting: default = the
pipeline's, passed through to the real pipeline (seen by the stub VL server), recorded in the
engine options; a VL server URL's credentials never reach those options."""

from __future__ import annotations

import importlib.util
import inspect

import pytest

from processor import ConvertOptions, EngineName, convert
from processor.engines.paddle.engine import PaddleEngine
from processor.engines.paddle.setup import engine_info
from processor.options import PREDICT_OPTIONS, PaddleEngineOptions
from tests.paddle_docs import make_png
from tests.vl_stub_server import StubVLServer
from watcher.settings import Settings

ISSUE_OPTIONS = (
    "layout_threshold layout_nms layout_unclip_ratio layout_merge_bboxes_mode layout_shape_mode "
    "use_ocr_for_image_block use_queues prompt_label format_block_content merge_layout_blocks "
    "repetition_penalty temperature top_p min_pixels max_pixels max_new_tokens"
).split()
HAVE_PADDLEOCR = importlib.util.find_spec("paddleocr") is not None
paddle = pytest.mark.skipif(not HAVE_PADDLEOCR, reason="paddleocr is not installed")


def test_every_predict_option_is_a_setting_from_env(monkeypatch):
    assert list(PREDICT_OPTIONS) == ISSUE_OPTIONS
    env = {
        "LAYOUT_THRESHOLD": "0.45", "LAYOUT_NMS": "false", "LAYOUT_UNCLIP_RATIO": "[1.0, 1.2]",
        "LAYOUT_MERGE_BBOXES_MODE": "large", "LAYOUT_SHAPE_MODE": "rect", "USE_OCR_FOR_IMAGE_BLOCK": "true",
        "USE_QUEUES": "false", "PROMPT_LABEL": "table", "FORMAT_BLOCK_CONTENT": "true",
        "MERGE_LAYOUT_BLOCKS": "false", "REPETITION_PENALTY": "1.05", "TEMPERATURE": "0.2", "TOP_P": "0.9",
        "MIN_PIXELS": "200000", "MAX_PIXELS": "900000", "MAX_NEW_TOKENS": "1024",
    }  # fmt: skip
    assert sorted(env) == sorted(n.upper() for n in ISSUE_OPTIONS)
    for name, value in env.items():
        monkeypatch.setenv(f"DOCWATCH_PADDLE__{name}", value)
    kwargs = Settings().paddle.predict_kwargs()
    assert kwargs == {
        "layout_threshold": 0.45, "layout_nms": False, "layout_unclip_ratio": [1.0, 1.2],
        "layout_merge_bboxes_mode": "large", "layout_shape_mode": "rect", "use_ocr_for_image_block": True,
        "use_queues": False, "prompt_label": "table", "format_block_content": True, "merge_layout_blocks": False,
        "repetition_penalty": 1.05, "temperature": 0.2, "top_p": 0.9, "min_pixels": 200000, "max_pixels": 900000,
        "max_new_tokens": 1024,
    }  # fmt: skip
    monkeypatch.setenv("DOCWATCH_PADDLE__LAYOUT_UNCLIP_RATIO", "1.5")
    assert Settings().paddle.layout_unclip_ratio == 1.5
    monkeypatch.setenv("DOCWATCH_PADDLE__LAYOUT_SHAPE_MODE", "circle")
    with pytest.raises(ValueError):
        Settings()


def test_engine_options_record_every_predict_option_and_no_url_credentials():
    p = PaddleEngineOptions(vl_rec_backend="vllm-server", temperature=0.1, layout_unclip_ratio=(1.0, 1.1),
                            vl_rec_server_url="https://bob:hunter2@vl.example:8443/v1?api_key=sk-123&x=1")  # fmt: skip
    opts = engine_info(EngineName.PADDLEOCR_VL, p).options
    assert set(ISSUE_OPTIONS) <= set(opts)
    assert opts["temperature"] == 0.1 and opts["layout_unclip_ratio"] == "1.0,1.1" and opts["use_queues"] is True
    assert opts["vl_rec_server_url"] == "https://vl.example:8443/v1?x=1"  # processor.redact: secrets out
    assert not any(secret in str(opts) for secret in ("bob", "hunter2", "sk-123"))


@paddle
def test_defaults_are_the_pipeline_defaults(tmp_path):
    """None where the pipeline says None; concrete values equal to the built pipeline's own."""
    from paddleocr import PaddleOCRVL
    from paddlex.inference import load_pipeline_config

    sig = inspect.signature(PaddleOCRVL.predict_iter).parameters
    d = PaddleEngineOptions()
    concrete = {"use_ocr_for_image_block", "use_queues", "format_block_content", "merge_layout_blocks"}
    for name in ISSUE_OPTIONS:
        if name not in concrete:
            assert getattr(d, name) == sig[name].default, name  # None, or "auto" for layout_shape_mode
    with StubVLServer() as stub:
        eng = PaddleEngine(_stub_options(stub, tmp_path))
        eng.load()
        try:
            inner = eng._pipeline.paddlex_pipeline
            inner = getattr(inner, "_pipeline", inner)
            for name in concrete:
                assert getattr(d, name) == getattr(inner, name), name
        finally:
            eng.close()
    for version in ("PaddleOCR-VL", "PaddleOCR-VL-1.5", "PaddleOCR-VL-1.6"):  # what the descriptions name
        layout = load_pipeline_config(version)["SubModules"]["LayoutDetection"]
        assert layout["layout_nms"] is True and layout["layout_unclip_ratio"] == [1.0, 1.0]
        threshold = layout["threshold"]
        assert threshold == 0.3 if version != "PaddleOCR-VL" else isinstance(threshold, dict)
    fields = PaddleEngineOptions.model_fields
    assert "0.3 (v1: per class)" in fields["layout_threshold"].description
    assert "(true)" in fields["layout_nms"].description and "[1.0, 1.0]" in fields["layout_unclip_ratio"].description


def _stub_options(stub: StubVLServer, tmp_path, **paddle) -> ConvertOptions:
    from processor.engines.paddle.models import prepare_environment

    prepare_environment(tmp_path / "pdx-cache")
    base = dict(use_layout_detection=False, vl_rec_backend="vllm-server", vl_rec_server_url=stub.base_url,
                device="cpu")  # fmt: skip
    base.update(paddle)
    return ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(**base))


@paddle
def test_sampling_and_prompt_options_reach_the_vl_server(tmp_path):
    with StubVLServer() as stub:
        host_port = stub.base_url.split("//")[1]
        options = _stub_options(
            stub, tmp_path, temperature=0.3, top_p=0.8, repetition_penalty=1.07, max_new_tokens=77,
            min_pixels=150000, max_pixels=800000, prompt_label="table",
            vl_rec_server_url=f"http://docwatch:s3cr3t@{host_port}",
        )  # fmt: skip
        doc = convert(make_png(["Settings reach the server"]), options, name="s.png")
    (request,) = stub.requests
    assert request["prompt"] == "Table Recognition:"  # prompt_label=table with layout detection off
    body = request["body"]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.8 and body["repetition_penalty"] == 1.07
    assert body["max_completion_tokens"] == 77
    assert body["mm_processor_kwargs"] == {"min_pixels": 150000, "max_pixels": 800000}
    opts = doc.engine.options
    assert opts["temperature"] == 0.3 and opts["prompt_label"] == "table" and opts["max_new_tokens"] == 77
    assert request["authorization"].startswith("Basic ")  # the credentials did reach the server
    assert "s3cr3t" not in doc.model_dump_json() and "docwatch:" not in doc.model_dump_json()
    assert opts["vl_rec_server_url"] == f"http://{host_port}"


def test_pages_are_spread_over_pipeline_instances_only_with_a_vl_server():
    """Two instances overlap one batch's collection with another's answers at the VL server; with
    the native backend each instance would load the VL model itself, so it keeps one."""

    def instances(**paddle: object) -> int:
        options = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(**paddle))
        return PaddleEngine(options)._instances

    assert instances(vl_rec_backend="vllm-server", vl_rec_server_url="http://vllm:8118/v1") == 2
    assert instances(vl_rec_backend="vllm-server", vl_rec_server_url="http://vllm:8118/v1", pipelines=3) == 3
    assert instances(vl_rec_backend="native") == 1
    assert Settings(paddle={"pages_in_flight": 48}, engine="paddleocr-vl").documents_in_flight == 48


@paddle
def test_a_vl_batch_is_sent_once_it_holds_what_the_client_sends_at_once(tmp_path):
    """paddlex's VL worker collects boxes for 0.5 s or up to its batch size (8192 with a server),
    sends them, and waits for every answer before collecting again: with 64 pages inside, the
    VL server idled through each collection window (bench/throughput.py's 96-document stream
    ran in waves). Given ``vl_rec_max_concurrency``, each instance's batch is that size; without
    it, the pipeline's own default stays."""

    def batch_sizes(**paddle: object) -> list[int]:
        with StubVLServer() as stub:
            engine = PaddleEngine(_stub_options(stub, tmp_path, **paddle))
            engine.load()
            try:
                return [p.paddlex_pipeline._pipeline.vl_rec_model.batch_sampler.batch_size for p in engine._pipelines]
            finally:
                engine.close()

    assert batch_sizes(vl_rec_max_concurrency=16) == [16, 16]
    assert batch_sizes() == [8192, 8192]
