"""The PaddleOCR-VL engine, for real: paddleocr + paddlex + paddlepaddle (CPU), no GPU, no weights.

The VL model is replaced by tests/vl_stub_server.py — an OpenAI-compatible chat-completions server
that OCRs each image it is sent with Tesseract — and the engine runs the real pipeline with
``use_layout_detection=False`` and ``vl_rec_backend="vllm-server"``. With those settings the
pipeline loads no model at all (checked below), so nothing is downloaded.

Tests that need paddleocr are marked ``paddle`` and skip only when ``paddleocr`` is not importable.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import re
import shutil
import unicodedata

import pytest
from PIL import Image

from processor import ConvertOptions, EngineName, convert, render_markdown
from processor.engines.paddle import models
from processor.document import BlockType, ContentKind, PageStatus, PageUnit
from processor.engines import create_engine
from processor.engines.paddle.engine import PaddleEngine, prepare_environment
from processor.engines.paddle.blocks import (
    ALL_LABELS,
    DEFAULT_MARKDOWN_IGNORE,
    DOC_LAYOUT_V2V3_LABELS,
    LABEL_TYPES,
    PROMPT_LABELS,
    RawBlock,
    map_page_blocks,
    strip_latex,
)
from processor.errors import EngineFailure
from processor.options import PaddleEngineOptions

try:
    from tests.paddle_docs import PAGE_TEXTS, make_pdf, make_png
    from tests.vl_stub_server import StubVLServer
except ImportError:  # tests/ on sys.path instead of the repo root (rootdir-less runs)
    from paddle_docs import PAGE_TEXTS, make_pdf, make_png  # type: ignore[no-redef]
    from vl_stub_server import StubVLServer  # type: ignore[no-redef]

HAVE_PADDLEOCR = importlib.util.find_spec("paddleocr") is not None
needs_paddle = [
    pytest.mark.paddle,
    pytest.mark.skipif(not HAVE_PADDLEOCR, reason="paddleocr is not installed (pip install 'paddleocr[doc-parser]')"),
]


def _require_tesseract():
    """The stub VL server reads images with Tesseract; its absence is a setup error, not a skip."""
    assert shutil.which("tesseract"), "tesseract CLI needed: apt-get install tesseract-ocr tesseract-ocr-rus"


needs_tesseract = pytest.mark.usefixtures("tesseract")


@pytest.fixture(scope="session")
def tesseract():
    _require_tesseract()


def paddle(func):
    for mark in needs_paddle:
        func = mark(func)
    return func


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return " ".join(re.sub(r"[^\w\s]", " ", text).split()).lower()


def distance(a: str, b: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.normalized_distance(norm(a), norm(b))


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def stub():
    with StubVLServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def paddle_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("pdx-cache")
    prepare_environment(cache)  # before the first paddlex import in this process
    return cache


def stub_options(stub: StubVLServer, **paddle) -> ConvertOptions:
    base = dict(use_layout_detection=False, vl_rec_backend="vllm-server", vl_rec_server_url=stub.base_url,
                device="cpu")  # fmt: skip
    base.update(paddle)
    return ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(**base))


@pytest.fixture(scope="module")
def engine(stub, paddle_cache):
    if not HAVE_PADDLEOCR:
        pytest.skip("paddleocr is not installed")
    _require_tesseract()
    eng = create_engine(stub_options(stub))
    assert isinstance(eng, PaddleEngine)
    eng.load()
    yield eng
    eng.close()


# ---------------------------------------------------------------------------------------------
# end to end through processor.convert()


@paddle
@needs_tesseract
def test_two_page_pdf_end_to_end(engine, stub):
    stub.requests.clear()
    doc = convert(make_pdf(), engine.options, engine=engine, name="bilingual.pdf")

    assert doc.source.page_count == 2 and len(doc.pages) == 2
    assert [p.number for p in doc.pages] == [1, 2]
    for page, lines in zip(doc.pages, PAGE_TEXTS, strict=True):
        assert page.status is PageStatus.OK and page.unit is PageUnit.POINT
        assert (page.width, page.height) == (420, 300)
        text = "\n".join(b.text or "" for b in page.reading_order())
        assert distance(text, " ".join(lines)) < 0.08, text
        # the raw pipeline JSON is kept per page
        assert page.raw is not None
        assert page.raw["parsing_res_list"][0]["block_label"] == "ocr"
        assert page.raw["model_settings"]["use_layout_detection"] is False

    md = render_markdown(doc)
    assert md.startswith("<!-- page 1 -->") and "<!-- page 2 -->" in md
    first, second = md.split("<!-- page 2 -->")
    assert "Первая страница" in first and "English" in first
    assert "Вторая страница" in second and "Second page" in second

    assert doc.engine.name == "paddleocr-vl"
    assert doc.engine.options["pipeline_version"] == "v1.6"
    assert doc.engine.options["vl_rec_backend"] == "vllm-server"
    assert doc.engine.options["merge_pages"] is True
    # the stub saw one whole-page "OCR:" request per page, as the official client sends it
    assert [r["prompt"] for r in stub.requests] == ["OCR:", "OCR:"]
    assert {"model", "messages", "temperature"} <= set(stub.requests[0]["body_keys"])
    assert stub.requests[0]["model"] == "PaddleOCR-VL-1.6-0.9B"


@paddle
@needs_tesseract
def test_page_image_input_and_no_merge(stub, paddle_cache):
    eng = create_engine(stub_options(stub, merge_pages=False, pipeline_version="v1.5"))
    png = make_png(["Распознавание страницы", "Page image input"])
    eng.load()
    try:
        doc = convert(png, eng.options, engine=eng, name="scan.png")
    finally:
        eng.close()
    (page,) = doc.pages
    assert page.unit is PageUnit.PIXEL and (page.width, page.height) == Image.open(io.BytesIO(png)).size
    assert distance(page.blocks[0].text, "Распознавание страницы Page image input") < 0.1
    assert doc.engine.options["pipeline_version"] == "v1.5" and doc.engine.options["merge_pages"] is False


@paddle
@needs_tesseract
def test_one_bad_page_fails_alone(engine, stub):
    stub.reject_if = lambda text: "Вторая" in text
    try:
        doc = convert(make_pdf(), engine.options, engine=engine)
    finally:
        stub.reject_if = None
    assert [p.status for p in doc.pages] == [PageStatus.OK, PageStatus.FAILED]
    assert "400" in doc.pages[1].error.message
    assert "<!-- page 2 failed" in render_markdown(doc)


@paddle
def test_unreachable_vl_server_is_a_retryable_engine_failure(paddle_cache):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = ConvertOptions(
        engine=EngineName.PADDLEOCR_VL,
        paddle=PaddleEngineOptions(use_layout_detection=False, vl_rec_backend="vllm-server", device="cpu",
                                   vl_rec_server_url=f"http://docwatch:hunter2@127.0.0.1:{port}/v1"),
    )  # fmt: skip
    with pytest.raises(EngineFailure) as err:
        convert(make_png(["x"]), opts)
    assert err.value.retryable and f"127.0.0.1:{port}" in str(err.value)
    assert "hunter2" not in str(err.value)  # the URL's credentials stay out of errors (and so manifests)


@paddle
@needs_tesseract
def test_warm_up_sets_ready(stub, paddle_cache):
    eng = PaddleEngine(stub_options(stub))
    assert not eng.ready
    eng.warm_up()
    assert eng.ready
    eng.close()
    assert not eng.ready


@paddle
def test_layout_off_with_server_backend_loads_no_model(stub, paddle_cache):
    """What the pipeline builds with use_layout_detection=False + vllm-server: a GenAI client only."""
    eng = PaddleEngine(stub_options(stub))
    eng.load()
    try:
        inner = eng._pipeline.paddlex_pipeline
        inner = getattr(inner, "_pipeline", inner)  # AutoParallel wrapper -> the real pipeline
        assert not hasattr(inner, "layout_det_model")
        assert not hasattr(inner, "doc_preprocessor_pipeline")
        assert type(inner.vl_rec_model).__name__.endswith("GenAIClientPredictor") or hasattr(
            inner.vl_rec_model, "genai_client"
        )
        assert eng.model_dirs == {}
        assert not (paddle_cache / "official_models").exists()  # nothing was downloaded
    finally:
        eng.close()


# ---------------------------------------------------------------------------------------------
# labels -> block types, from the pipeline's own label lists and result objects


@paddle
def test_label_map_covers_every_label_the_pipelines_emit():
    from paddlex.inference.pipelines.paddleocr_vl import pipeline as vl_pipeline
    from paddlex.modules.base.utils.pdparams2safetensors import inference_meta

    assert inference_meta._LABEL_DOC_LAYOUT_V2V3 == DOC_LAYOUT_V2V3_LABELS
    src = inspect.getsource(vl_pipeline._PaddleOCRVLPipeline.predict)
    prompt_labels = re.search(r"prompt_label\.lower\(\) in \[(.*?)\]", src, re.DOTALL).group(1)
    assert sorted(re.findall(r'"(\w+)"', prompt_labels)) == sorted(PROMPT_LABELS)
    emitted = set(DOC_LAYOUT_V2V3_LABELS) | set(PROMPT_LABELS) | set(inference_meta._LABEL_DOC_LAYOUT_PLUS)
    assert emitted <= set(LABEL_TYPES), emitted - set(LABEL_TYPES)
    assert set(ALL_LABELS) <= set(LABEL_TYPES)
    # the default Markdown-ignore list is the pipeline configs' one
    from paddlex.inference import load_pipeline_config

    for name in models.VL_PIPELINE_NAMES.values():
        assert load_pipeline_config(name)["markdown_ignore_labels"] == DEFAULT_MARKDOWN_IGNORE


EXPECTED_KIND = {
    BlockType.TABLE: ContentKind.HTML,
    BlockType.FORMULA: ContentKind.LATEX,
    BlockType.FIGURE: ContentKind.IMAGE,
    BlockType.CHART: ContentKind.IMAGE,
}


def _vl_result(labels, width=600, height=800):
    """A real PaddleOCRVLResult with one PaddleOCRVLBlock per label, as the pipeline builds it."""
    from paddlex.inference.pipelines.paddleocr_vl.result import PaddleOCRVLBlock, PaddleOCRVLResult

    blocks = []
    for i, label in enumerate(labels):
        bbox = [10, 10 + i * 20, 300, 28 + i * 20]
        content = {
            "table": "<table><tr><td>a</td><td>b</td></tr></table>",
            "display_formula": "$$ E = mc^2 $$",
            "inline_formula": "$x^2$",
            "formula": "\\[ a+b \\]",
            "paragraph_title": "1.2 Methods",
        }.get(label, f"{label} content")
        block = PaddleOCRVLBlock(label=label, bbox=bbox, content=content, group_id=i)
        if label in ("image", "chart", "seal", "header_image", "footer_image"):
            block.content = ""
            block.image = {"path": f"imgs/img_in_{label}_box.jpg", "img": Image.new("RGB", (290, 18), "red")}
        blocks.append(block)
    settings = {"use_doc_preprocessor": False, "use_layout_detection": True, "use_chart_recognition": False,
                "use_seal_recognition": False, "markdown_ignore_labels": DEFAULT_MARKDOWN_IGNORE,
                "format_block_content": False}  # fmt: skip
    return PaddleOCRVLResult(
        {"input_path": None, "page_index": None, "page_count": None, "width": width, "height": height,
         "doc_preprocessor_res": None, "layout_det_res": {"boxes": []}, "table_res_list": [],
         "parsing_res_list": blocks, "spotting_res": {}, "imgs_in_doc": [], "model_settings": settings}
    )  # fmt: skip


@paddle
def test_every_label_maps_from_real_result_objects(tmp_path, paddle_cache):
    from processor.source import open_source

    labels = sorted(set(DOC_LAYOUT_V2V3_LABELS) | set(PROMPT_LABELS))
    res = _vl_result(labels)
    eng = PaddleEngine(ConvertOptions(engine=EngineName.PADDLEOCR_VL))
    png = make_png(["x"], width=600, height=800)
    with open_source(png, eng.options) as source:
        rendered = eng._render(source, 0)
        record = eng._record(source, rendered, res, 0.5)
        result = eng._finish(record, record.raws)
    page = result.page
    assert len(page.blocks) == len(labels)  # no block lost
    for label, block in zip(labels, page.blocks, strict=True):
        assert block.type is LABEL_TYPES[label], label
        expected = EXPECTED_KIND.get(block.type)
        if label in ("header_image", "footer_image", "seal"):
            expected = ContentKind.IMAGE
        if expected:
            assert block.content_kind is expected, label
        if block.type.is_furniture or label in DEFAULT_MARKDOWN_IGNORE or label == "formula_number":
            assert block.order is None, label
        else:
            assert block.order is not None, label
    by_label = dict(zip(labels, page.blocks, strict=True))
    assert by_label["table"].html.startswith("<table>")
    assert by_label["display_formula"].latex == "E = mc^2"
    assert by_label["inline_formula"].latex == "x^2"
    assert by_label["formula"].latex == "a+b"
    # no title_level (restructure_pages not run): the depth of its numbering, as the pipeline writes "### 1.2 Methods"
    assert by_label["paragraph_title"].level == 3 and by_label["paragraph_title"].text == "1.2 Methods"
    # figures: PNG assets named images/p{page}_{i}.png, referenced by the ImageRef
    figure = by_label["image"]
    index = labels.index("image")
    assert figure.image.path == f"images/p1_{index}.png" and (figure.image.width, figure.image.height) == (290, 18)
    assets = {a.path: a for a in result.assets}
    assert len(assets) == 5 and figure.image.path in assets
    assert assets[figure.image.path].data.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(assets[figure.image.path].data)).size == (290, 18)
    # raw JSON kept, one entry per block, with the pipeline's own ids/order
    assert [b["block_label"] for b in page.raw["parsing_res_list"]] == labels
    md_page = render_markdown_page(page)
    assert f"![figure](images/p1_{index}.png)" in md_page and "$$\nE = mc^2\n$$" in md_page
    assert "header content" not in md_page and "number content" not in md_page


def render_markdown_page(page):
    from processor.render.markdown import render_page

    return render_page(page)


@paddle
def test_pdf_figures_are_cut_from_the_pdf_at_figure_dpi(paddle_cache):
    from processor.source import open_source

    eng = PaddleEngine(ConvertOptions(engine=EngineName.PADDLEOCR_VL, figure_dpi=72))
    with open_source(make_pdf(), eng.options) as source:
        rendered = eng._render(source, 0)  # 144 dpi: 840x600 px for a 420x300 pt page
        assert rendered.image.shape[:2] == (600, 840) and rendered.scale == (0.5, 0.5)
        res = _vl_result(["text", "image"], width=840, height=600)
        res["parsing_res_list"][1].bbox = [100, 100, 300, 200]
        record = eng._record(source, rendered, res, 0.1)
        page = eng._finish(record, record.raws).page
    fig = page.blocks[1]
    assert fig.bbox.x0 == 50 and fig.bbox.y1 == 100  # page points
    assert (fig.image.width, fig.image.height) == (100, 50)  # 200x100 px at 144 dpi -> 72 dpi


@paddle
def test_restructure_pages_merges_tables_and_levels_titles(stub, paddle_cache):
    """merge_pages uses the pipeline's restructure_pages on the per-page JSON."""
    from processor.engines.paddle.pages import Record, Rendered

    eng = PaddleEngine(stub_options(stub))
    eng.load()
    try:
        head = "<table><tr><td>Name</td><td>Qty</td></tr><tr><td>a</td><td>1</td></tr></table>"
        tail = "<table><tr><td>b</td><td>2</td></tr></table>"
        pages = [_vl_result(["paragraph_title", "text", "table"]), _vl_result(["table", "text"])]
        pages[0]["parsing_res_list"][2].content = head
        pages[1]["parsing_res_list"][0].content = tail
        for res in pages:  # same table width on both pages
            for b in res["parsing_res_list"]:
                if b.label == "table":
                    b.bbox = [10, 100, 500, 300]
        kept = []
        for n, res in enumerate(pages, start=1):
            rendered = Rendered(n, None, 600.0, 800.0, PageUnit.PIXEL, (1.0, 1.0))
            raws = [RawBlock.from_pipeline(b, i) for i, b in enumerate(res["parsing_res_list"])]
            kept.append(Record(rendered=rendered, raw=res.json["res"], raws=raws))
        out = list(eng._restructure(kept))
    finally:
        eng.close()
    p1, p2 = (r.page for r in out)
    table1 = next(b for b in p1.blocks if b.type is BlockType.TABLE)
    table2 = next(b for b in p2.blocks if b.type is BlockType.TABLE)
    assert "<td>b</td>" in table1.html and "<td>a</td>" in table1.html  # continued table joined
    assert table2.html == ""  # its rows moved to page 1
    heading = p1.blocks[0]
    assert heading.type is BlockType.HEADING and heading.level >= 1
    assert p1.raw["parsing_res_list"][2]["block_content"] == head  # raw stays the pipeline's own


# ---------------------------------------------------------------------------------------------
# pure parts: no paddle needed


def test_raw_block_mapping_without_paddle():
    raws = [
        RawBlock("doc_title", "# Report", (0, 0, 100, 20), 0),
        RawBlock("header", "Running head", (0, 0, 100, 10), 1),
        RawBlock("paragraph_title", "## 2 Results", (0, 30, 100, 40), 2, title_level=2),
        RawBlock("text", "Body", (0, 50, 100, 60), 3),
        RawBlock("number", "7", (0, 90, 10, 100), 4),
        RawBlock("mystery_label", "kept as text", (0, 70, 100, 80), 5),
    ]
    blocks = map_page_blocks(raws, scale=(0.5, 0.5))
    assert [b.type for b in blocks] == [BlockType.TITLE, BlockType.HEADER, BlockType.HEADING, BlockType.TEXT,
                                        BlockType.PAGE_NUMBER, BlockType.TEXT]  # fmt: skip
    assert [b.order for b in blocks] == [0, None, 1, 2, None, 3]
    assert blocks[0].text == "Report" and blocks[2].text == "2 Results" and blocks[2].level == 3  # "###", as the pipeline
    # restructure_pages' title_level 0 (top) and 1 stay two levels
    top, sub = map_page_blocks([RawBlock("paragraph_title", "A", (0, 0, 1, 1), 0, title_level=0),
                                RawBlock("paragraph_title", "B", (0, 2, 1, 3), 1, title_level=1)])  # fmt: skip
    assert (top.level, sub.level) == (1, 2)
    assert blocks[3].bbox.y1 == 30
    assert strip_latex("$$x$$") == "x" and strip_latex("\\(y\\)") == "y" and strip_latex("z") == "z"
