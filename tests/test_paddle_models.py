"""The Paddle engines' models: which directories each configuration needs, named when missing;
fetched with paddlex's public downloader and checked against the pinned sha256s of
deploy/models.lock.json; the model lists agree with paddlex's pipeline configs."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from processor import ConvertOptions, EngineName
from processor.engines.paddle import models
from processor.engines import create_engine
from processor.engines.paddle.engine import PaddleEngine
from processor.errors import EngineUnavailable
from processor.options import PaddleEngineOptions, VlBackend

paddle = pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed")


def test_missing_model_dir_is_engine_unavailable_naming_the_dir(tmp_path):
    opts = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=PaddleEngineOptions(model_dir=tmp_path))
    with pytest.raises(EngineUnavailable) as err:
        create_engine(opts).load()
    msg = str(err.value)
    assert str(tmp_path / "PP-DocLayoutV3") in msg and str(tmp_path / "PaddleOCR-VL-1.6") in msg
    assert "docwatch models fetch" in msg and err.value.retryable

    # an explicit per-model dir that is missing is named as such
    opts.paddle.layout_detection_model_dir = tmp_path / "custom-layout"
    with pytest.raises(EngineUnavailable, match="custom-layout"):
        create_engine(opts).load()

    # a dir without weights is not a model
    (tmp_path / "PP-DocLayoutV3").mkdir()
    (tmp_path / "PP-DocLayoutV3" / "inference.yml").write_text("Global:\n  model_name: PP-DocLayoutV3\n")
    status = models.resolve(models.required_models(opts)[0], opts.paddle.model_copy(update={
        "layout_detection_model_dir": None}))  # fmt: skip
    assert not status.ok and "no weights" in status.problem


def test_server_backend_needs_no_vl_model_and_needs_a_url(tmp_path):
    p = PaddleEngineOptions(model_dir=tmp_path, vl_rec_backend=VlBackend.VLLM_SERVER, use_layout_detection=False)
    assert models.required_models(p) == []
    assert models.verify(ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=p)).ok
    with pytest.raises(EngineUnavailable, match="vl_rec_server_url"):
        PaddleEngine(ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=p)).load()


def _fake_model(path: Path, name: str) -> None:
    path.mkdir(parents=True)
    (path / "inference.yml").write_text(f"Global:\n  model_name: {name}\n")
    (path / "inference.json").write_text("{}")
    (path / "inference.pdiparams").write_bytes(b"\0")


def test_verify_and_fetch_with_paddlex_downloader_stubbed(tmp_path, monkeypatch):
    opts = ConvertOptions(engine=EngineName.PADDLEOCR_VL)
    calls = []
    root = tmp_path / "official_models"

    def fake_download(cache):  # stands in for paddlex's public official_models[...] (no network here)
        assert cache == tmp_path

        def download(name):
            calls.append(name)
            sub = name.replace("-0.9B", "") if "PaddleOCR-VL" in name else name
            _fake_model(root / sub, name)
            return root / sub

        return download

    monkeypatch.setattr(models, "_paddlex_download", fake_download)
    report = models.fetch(opts, tmp_path, log=lambda m: None)
    assert report.ok
    assert calls == ["PP-DocLayoutV3", "PaddleOCR-VL-1.6-0.9B", "PP-LCNet_x1_0_doc_ori", "UVDoc"]
    assert models.verify(opts, root).ok
    assert "PaddleOCR-VL-1.6" in str(models.verify(opts, root))
    # a second fetch keeps what is there
    calls.clear()
    models.fetch(tmp_path, opts, log=lambda m: None)
    assert calls == []
    # a download failure fails the fetch (and so the image build)
    shutil.rmtree(root / "UVDoc")

    def broken(cache):
        def download(name):
            raise Exception("No model source is available")

        return download

    monkeypatch.setattr(models, "_paddlex_download", broken)
    with pytest.raises(RuntimeError, match="UVDoc"):
        models.fetch(opts, tmp_path, log=lambda m: None)
    with pytest.raises(RuntimeError):
        models.check(ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle={"use_doc_unwarping": True}), root)


def test_fetch_checks_every_file_against_the_lock(tmp_path, monkeypatch):
    opts = ConvertOptions(engine=EngineName.PADDLEOCR_VL)
    root = tmp_path / "official_models"
    for name in ("PP-DocLayoutV3", "PaddleOCR-VL-1.6", "PP-LCNet_x1_0_doc_ori", "UVDoc"):
        _fake_model(root / name, name)
    monkeypatch.setattr(models, "_paddlex_download", lambda cache: pytest.fail("nothing to download"))
    lock = tmp_path / "models.lock.json"
    lock.write_text('{"lock_version": 1, "models": {}}')
    with pytest.raises(RuntimeError, match="PP-DocLayoutV3: no sha256 pinned"):  # an empty lock fails loudly
        models.fetch(opts, tmp_path, lock=lock, log=lambda m: None)
    models.fetch(opts, tmp_path, lock=lock, record_lock=True, log=lambda m: None)  # pin what is there
    pins = json.loads(lock.read_text())
    assert set(pins["models"]) == {"PP-DocLayoutV3", "PaddleOCR-VL-1.6-0.9B", "PP-LCNet_x1_0_doc_ori", "UVDoc"}
    assert set(pins["models"]["UVDoc"]) == {"inference.yml", "inference.json", "inference.pdiparams"}
    assert models.fetch(opts, tmp_path, lock=lock, log=lambda m: None).ok
    (root / "UVDoc" / ".git").mkdir()  # hoster metadata is not the model
    (root / "UVDoc" / "README.md").write_text("model card")
    assert models.fetch(opts, tmp_path, lock=lock, log=lambda m: None).ok
    (root / "UVDoc" / "inference.pdiparams").write_bytes(b"\1")  # a changed weight
    (root / "UVDoc" / "extra.py").write_text("print()")  # a file nobody pinned
    with pytest.raises(RuntimeError) as err:
        models.fetch(opts, tmp_path, lock=lock, log=lambda m: None)
    assert "UVDoc/inference.pdiparams: sha256" in str(err.value) and "UVDoc/extra.py: not pinned" in str(err.value)


def test_the_shipped_lock_is_a_lock():
    from processor.engines.paddle import model_lock

    lock = model_lock.load(Path(__file__).resolve().parent.parent / "deploy" / "models.lock.json")
    assert lock["lock_version"] == model_lock.LOCK_VERSION
    for name, files in lock["models"].items():
        assert files and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in files.values()), name


@paddle
def test_model_lists_match_the_paddlex_pipeline_configs():
    from paddlex.inference import load_pipeline_config

    for version, name in models.VL_PIPELINE_NAMES.items():
        cfg = load_pipeline_config(name)
        assert cfg["SubModules"]["LayoutDetection"]["model_name"] == models.VL_LAYOUT_MODELS[version]
        assert cfg["SubModules"]["VLRecognition"]["model_name"] == models.VL_REC_MODELS[version]
        pre = cfg["SubPipelines"]["DocPreprocessor"]["SubModules"]
        assert pre["DocOrientationClassify"]["model_name"] == models.DOC_ORIENTATION_MODEL
        assert pre["DocUnwarping"]["model_name"] == models.DOC_UNWARPING_MODEL
        # our defaults reproduce the pipeline's: no preprocessor, layout on, charts off
        d = PaddleEngineOptions()
        assert cfg["use_doc_preprocessor"] is (d.use_doc_orientation_classify or d.use_doc_unwarping)
        assert cfg["use_layout_detection"] is d.use_layout_detection
        assert cfg["use_chart_recognition"] is d.use_chart_recognition
    from paddleocr._pipelines.paddleocr_vl import _DEFAULT_PIPELINE_VERSION

    assert PaddleEngineOptions().pipeline_version == _DEFAULT_PIPELINE_VERSION

    def names(node):
        if isinstance(node, dict):
            if "model_name" in node:
                yield node["model_name"]
            for v in node.values():
                yield from names(v)

    structure = set(names(load_pipeline_config("PP-StructureV3")))
    assert structure == {n for n, _ in models.STRUCTURE_V3_MODELS}


def test_pp_structurev3_missing_models_named(tmp_path):
    opts = ConvertOptions(engine=EngineName.PP_STRUCTURE_V3, paddle=PaddleEngineOptions(model_dir=tmp_path))
    with pytest.raises(EngineUnavailable) as err:
        create_engine(opts).load()
    for name in ("PP-DocLayout_plus-L", "PP-OCRv5_server_rec", "PP-FormulaNet_plus-L"):
        assert str(tmp_path / name) in str(err.value)
    assert "PP-Chart2Table" not in str(err.value)  # chart recognition is off by default


@paddle
def test_pp_structurev3_points_every_model_at_a_local_dir(tmp_path):
    for name, _ in models.STRUCTURE_V3_MODELS:
        _fake_model(tmp_path / name, name)
    eng = PaddleEngine(ConvertOptions(engine=EngineName.PP_STRUCTURE_V3, paddle=PaddleEngineOptions(model_dir=tmp_path)))
    eng.model_dirs = eng.check_models()
    kwargs = eng._structure_kwargs()

    def dirs(node):
        if isinstance(node, dict):
            if "model_name" in node:
                yield node["model_name"], node["model_dir"]
            for v in node.values():
                yield from dirs(v)

    pairs = list(dirs(kwargs["paddlex_config"]))
    assert pairs and all(d == str(tmp_path / n) for n, d in pairs)  # never None: no download
    assert eng.info.name == "pp-structurev3" and eng.info.options["pipeline"] == "PP-StructureV3"


@paddle
def test_the_public_paddlex_downloader_saves_under_the_cache_home(tmp_path):
    """fetch() points PADDLE_PDX_CACHE_HOME at the cache home before paddlex is imported; paddlex's
    own downloader then saves every model under <cache home>/official_models (a fresh process)."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from processor.engines.paddle.models import _paddlex_download; "
        "_paddlex_download(Path(sys.argv[1])); "
        "from paddlex.inference.utils.official_models import official_models; print(official_models._save_dir)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "PADDLE_PDX_CACHE_HOME"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parent.parent, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(tmp_path / "official_models")
