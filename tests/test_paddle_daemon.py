"""The real daemon with the PaddleOCR-VL engine (real paddleocr pipeline, VL model replaced by the
Tesseract-backed stub server): readiness after warm-up, every page, the manifest and the outputs."""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from tests.daemon_harness import start_daemon, wait_for, wait_status
from tests.paddle_docs import PAGE_TEXTS, make_pdf, stub_vl_env
from tests.vl_stub_server import StubVLServer

pytestmark = [
    pytest.mark.paddle,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed"),
]


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", text)).split()).lower()


def test_daemon_with_paddleocr_vl_converts_every_page(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "двуязычный отчёт.pdf").write_bytes(make_pdf())
    with StubVLServer() as stub:
        # credentials in the URL reach the server but never the log, manifest or outputs
        env = stub_vl_env(stub.base_url.replace("//", "//docwatch:vl-s3cr3t@"), tmp_path / "pdx-cache",
                          DOCWATCH_PADDLE__TEMPERATURE="0.05")  # fmt: skip
        d = start_daemon(tmp_path, str(tmp_path / "in"), str(tmp_path / "out"), extra_env=env)
        try:
            m = wait_status(tmp_path / "out", "двуязычный отчёт.pdf", timeout=240)
            assert d.http("/readyz")[0] == 200
            # readiness came only after the engine converted its warm-up page
            events = [e["event"] for e in d.events()]
            assert events.index("engine.ready") < events.index("document.claimed")
            # with merge_pages (the default) each page still streams out, and is logged, once
            pages = [e["page"] for e in d.events() if e.get("event") == "page.converted"]
            assert sorted(pages) == [1, 2], pages
        finally:
            assert d.stop() == 0

    assert m["status"] == "succeeded", m
    assert m["pages"] == {"total": 2, "done": 2, "failed": [], "fallbacks": {}}
    assert m["engine"]["name"] == "paddleocr-vl"
    assert m["engine"]["options"]["pipeline_version"] == "v1.5"  # recorded in every manifest
    assert m["engine"]["options"]["vl_rec_backend"] == "vllm-server"
    assert m["engine"]["options"]["vl_rec_server_url"] == stub.base_url and m["engine"]["options"]["temperature"] == 0.05
    assert all(r["body"]["temperature"] == 0.05 and r["authorization"] for r in stub.requests)
    assert "vl-s3cr3t" not in d.log_path.read_text() and "vl-s3cr3t" not in json.dumps(m)
    out = tmp_path / "out" / "двуязычный отчёт.pdf"
    md = (out / "двуязычный отчёт.md").read_text()
    first, second = md.split("<!-- page 2 -->")
    for part, lines in zip((first, second), PAGE_TEXTS, strict=True):
        body = "\n".join(line for line in part.splitlines() if not line.startswith("<!--"))
        assert Levenshtein.normalized_distance(norm(body), norm(" ".join(lines))) < 0.1, body
    assert "vl-s3cr3t" not in (out / "двуязычный отчёт.json").read_text()
    doc = json.loads((out / "двуязычный отчёт.json").read_text())
    assert [p["number"] for p in doc["pages"]] == [1, 2]
    assert all(p["method"] == "vision_language" and p["raw"]["parsing_res_list"] for p in doc["pages"])


def test_missing_models_stop_the_daemon_at_start_with_the_dir_named(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    env = {
        "DOCWATCH_ENGINE": "paddleocr-vl",
        "DOCWATCH_PADDLE__DEVICE": "cpu",
        "DOCWATCH_PADDLE__MODEL_DIR": str(tmp_path / "no-models-here"),
        "DOCWATCH_PADDLE__CACHE_DIR": str(tmp_path / "pdx-cache"),
    }
    d = start_daemon(tmp_path, str(tmp_path / "in"), str(tmp_path / "out"), extra_env=env)
    assert d.wait_exit(timeout=120) == 3
    [failed] = [e for e in d.events() if e.get("event") == "engine.load_failed"]
    assert failed["error_type"] == "EngineUnavailable" and "no-models-here" in failed["error"]
    assert not any(e.get("event") == "engine.ready" for e in d.events())


def test_every_stdout_line_is_a_json_object_with_the_paddle_engine(tmp_path: Path) -> None:
    """What test_daemon_output checks with the CPU engine, with the real paddleocr pipeline (and
    paddlex, paddle, their model loaders and HTTP clients) in the engine child: whatever they
    print or log goes out as JSON. stderr too: a container's log is both streams, and paddlex
    logs to stderr through a handler of its own, in colour."""
    from tests.test_daemon_output import not_json_objects, run_once

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "report.pdf").write_bytes(make_pdf())
    with StubVLServer() as stub:
        env = stub_vl_env(stub.base_url, tmp_path / "pdx-cache")
        rc, stdout, stderr = run_once(tmp_path, tmp_path / "in", tmp_path / "out", timeout=600, **env)
    assert rc == 0, stdout[-3000:] + stderr[-3000:]
    events = [json.loads(line)["event"] for line in stdout.splitlines() if line.startswith("{")]
    assert "engine.ready" in events and events.count("document.succeeded") == 1, events
    assert not_json_objects(stdout) == []
    assert not_json_objects(stderr) == []
    assert any(e.get("logger") == "stderr" and "Creating model" in e["event"]  # what paddlex said, kept
               for e in map(json.loads, (stdout + stderr).splitlines()))
