"""deploy/gpu-smoke.sh: what can run without a GPU runs here — its argument handling, the Docker
variant's orchestration against a stand-in `docker`, the scoring, the shipped samples, and the
no-Docker variant end to end on the CPU wheel with the stub VL server in place of the VL model."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "gpu-smoke.sh"
SAMPLES = ROOT / "deploy" / "smoke"
sys.path.insert(0, str(ROOT / "bench"))
import gpu_smoke  # noqa: E402


def run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env or dict(os.environ),
                          timeout=timeout)  # fmt: skip


def test_shellcheck_clean():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_arguments():
    assert run("--help").returncode == 0 and "--no-docker" in run("--help").stdout
    for bad in (["--bogus"], ["--versions", "v2"], ["--timeout", "soon"], ["--vl-url", "http://x/v1"]):
        proc = run(*bad)
        assert proc.returncode == 2 and "gpu-smoke:" in proc.stderr, bad


_FAKE_DOCKER = """#!{python}
# stands in for docker: logs every call; `run -d -p 127.0.0.1:PORT:…` starts an HTTP server answering
# 200 on PORT (a container that came up); `rm -f` stops them
import os, signal, subprocess, sys
from pathlib import Path
log = Path({log!r})
with log.open("a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args[:1] == ["info"]:
    sys.exit({info_rc})
if args[:2] == ["run", "-d"] and "-p" in args:
    port = args[args.index("-p") + 1].split(":")[1]
    code = ("import http.server as h\\nclass H(h.BaseHTTPRequestHandler):\\n def do_GET(s):\\n"
            "  s.send_response(200); s.send_header('Content-Length','0'); s.end_headers()\\n"
            " def log_message(s,*a): pass\\nh.HTTPServer(('127.0.0.1', int(%r)), H).serve_forever()" % port)
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    with (log.parent / "servers").open("a") as fh:
        fh.write(f"{{proc.pid}}\\n")
if args[:2] == ["rm", "-f"] and (log.parent / "servers").exists():
    for pid in (log.parent / "servers").read_text().split():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
"""


def _fake_docker(tmp_path: Path, info_ok: bool = True) -> dict:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "docker"
    fake.write_text(_FAKE_DOCKER.format(python=sys.executable, log=str(tmp_path / "docker.log"),
                                        info_rc=0 if info_ok else 1))  # fmt: skip
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHON": sys.executable}


def test_docker_variant_orchestration_and_cleanup(tmp_path):
    """With images given (--no-build): the VL server serving the model name docwatch asks for and
    healthy before docwatch starts against it; samples dropped once docwatch is ready; manifests
    that never come fail the run, and every container is removed."""
    env = _fake_docker(tmp_path)
    proc = run("--no-build", "--versions", "v1.5", "--timeout", "10", "--workdir", str(tmp_path / "w"), env=env)
    assert proc.returncode == 1 and "timed out after 10s waiting for manifests" in proc.stderr
    calls = (tmp_path / "docker.log").read_text().splitlines()
    vl = next(i for i, c in enumerate(calls) if c.startswith("run -d --name smoke-vl-"))
    assert "docwatch-smoke-vl:v1.5 paddleocr genai_server --model_name PaddleOCR-VL-1.5-0.9B" in calls[vl]
    assert "--model_dir /opt/paddlex/official_models/PaddleOCR-VL-1.5 --backend vllm" in calls[vl]
    dw = next(i for i, c in enumerate(calls) if c.startswith("run -d --name smoke-dw-"))
    assert vl < dw and calls[dw].endswith("docwatch-smoke:gpu-v1.5")
    assert "DOCWATCH_PADDLE__VL_REC_API_MODEL_NAME=PaddleOCR-VL-1.5-0.9B" in calls[dw]
    assert "DOCWATCH_PADDLE__VL_REC_SERVER_URL=http://vl:8118/v1" in calls[dw]
    assert sorted(p.name for p in (tmp_path / "w" / "v1.5" / "in").iterdir()) == [
        "en-born-digital.pdf", "en-scan.png", "ru-born-digital.pdf", "ru-scan.pdf"]  # fmt: skip
    assert any(c.startswith("rm -f smoke-vl-") and "smoke-dw-" in c for c in calls)  # cleaned up on failure
    assert any(c.startswith("network rm docwatch-smoke-") for c in calls)
    assert not any(c.startswith("build") for c in calls)
    assert "score" not in proc.stdout or "FAILED" in proc.stderr


def test_docker_variant_needs_an_engine_and_builds_with_the_dockerfiles_index(tmp_path):
    (tmp_path / "down").mkdir()
    proc = run("--versions", "v1.6", env=_fake_docker(tmp_path / "down", info_ok=False))
    assert proc.returncode == 1 and "Docker engine is not reachable" in proc.stderr
    for name, index in (("default", ""), ("other", "https://example.invalid/cu126/")):  # the Dockerfile's or another
        (tmp_path / name).mkdir()
        env = {**_fake_docker(tmp_path / name), "PADDLE_GPU_INDEX_URL": index}
        run("--versions", "v1.6", "--timeout", "2", "--workdir", str(tmp_path / name / "w"), env=env)
        calls = (tmp_path / name / "docker.log").read_text().splitlines()
        (gpu,) = [c for c in calls if c.startswith("build -t docwatch-smoke:gpu-v1.6")]
        assert ("PADDLE_GPU_INDEX_URL" in gpu) == bool(index) and (not index or f"PADDLE_GPU_INDEX_URL={index}" in gpu)


def test_scoring(tmp_path):
    assert gpu_smoke.ned("<!-- page 1 -->\n\n# Отчёт\n\nтекст", "Отчёт\nтекст") == 0.0
    assert gpu_smoke.ned("Oтчeт", "Отчёт") == pytest.approx(2 / 5)  # a look-alike and a lost diacritic count
    assert gpu_smoke.ned("", "abc") == 1.0 and gpu_smoke.levenshtein("kitten", "sitting") == 3
    samples, out = tmp_path / "samples", tmp_path / "out"
    samples.mkdir()
    for name, text in (("a.pdf", "Первая строка"), ("b.png", "Second line"), ("c.pdf", "Third")):
        (samples / name).write_bytes(b"x")
        (samples / f"{name}.expected.txt").write_text(text)
    (samples / "notes.txt").write_text("not a sample")

    def result(name: str, status: str, md: str, pages: int, start: str, end: str, failed=()):
        (out / name).mkdir(parents=True)
        (out / name / f"{Path(name).stem}.md").write_text(md)
        (out / name / "manifest.json").write_text(json.dumps({
            "status": status, "pages": {"total": pages, "done": pages, "failed": list(failed)},
            "started_at": f"2026-01-01T00:00:{start}Z", "finished_at": f"2026-01-01T00:00:{end}Z"}))  # fmt: skip

    result("a.pdf", "succeeded", "<!-- page 1 -->\n\nПервая строка", 2, "00", "04")
    result("b.png", "succeeded", "Second lime", 1, "02", "06")
    result("c.pdf", "failed", "", 1, "03", "10")
    r = gpu_smoke.score(samples, out, "v1.6", {"pages_per_second": 1.5}, max_ned=0.05)
    assert [s["sample"] for s in r["samples"]] == ["a.pdf", "b.png", "c.pdf"]
    assert r["samples"][0]["ned"] == 0.0 and r["samples"][1]["ned"] == pytest.approx(1 / 11, abs=1e-4)
    assert r["pages"] == 4 and r["seconds"] == 10 and r["pages_per_second"] == 0.4
    assert r["bare_pages_per_second"] == 1.5
    assert len(r["problems"]) == 2 and "b.png: NED" in r["problems"][0] and "c.pdf: failed" in r["problems"][1]
    (tmp_path / "r.json").write_text(json.dumps(r))
    assert gpu_smoke.main(["summary", str(tmp_path / "r.json")]) == 1
    assert gpu_smoke.main(["wait", str(out), "a.pdf", "c.pdf", "--timeout", "1"]) == 0
    assert gpu_smoke.main(["wait", str(out), "missing.pdf", "--timeout", "0"]) == 1


def test_samples_are_russian_and_english_born_digital_and_scanned():
    names = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in {".pdf", ".png"})
    assert names == ["en-born-digital.pdf", "en-scan.png", "ru-born-digital.pdf", "ru-scan.pdf"]
    for name in names:
        expected = (SAMPLES / f"{name}.expected.txt").read_text()
        if name.endswith("born-digital.pdf"):  # the expected text is the text layer's
            with pymupdf.open(SAMPLES / name) as doc:
                layer = "\n".join(page.get_text() for page in doc)
            assert gpu_smoke.normalise(layer) == gpu_smoke.normalise(expected), name
        elif name.endswith(".pdf"):
            with pymupdf.open(SAMPLES / name) as doc:
                assert not doc[0].get_text().strip() and doc[0].get_images(), name  # a scan: pixels only


@pytest.mark.paddle
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed")
def test_no_docker_variant_end_to_end_on_cpu_with_the_stub_vl_server(tmp_path):
    """The real daemon and the bare pipeline, as on a GPU host, but on the CPU wheel with the stub
    VL server (Tesseract) and without layout detection (no weights here)."""
    from tests.vl_stub_server import StubVLServer

    env = {**os.environ, "PYTHON": sys.executable, "DOCWATCH_PADDLE__USE_LAYOUT_DETECTION": "false",
           "PADDLE_PDX_CACHE_HOME": str(tmp_path / "pdx")}  # fmt: skip
    with StubVLServer() as stub:
        proc = run("--no-docker", "--versions", "v1.6", "--device", "cpu", "--vl-url", stub.base_url,
                   "--timeout", "300", "--workdir", str(tmp_path / "w"), env=env, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "gpu-smoke: OK" in proc.stdout and "| bare pipeline pages/s |" in proc.stdout
    score = json.loads((tmp_path / "w" / "v1.6" / "score.json").read_text())
    assert [s["status"] for s in score["samples"]] == ["succeeded"] * 4 and score["pages"] == 5
    assert max(s["ned"] for s in score["samples"]) < 0.05
    assert score["pages_per_second"] > 0 and score["bare_pages_per_second"] > 0
    # the stub saw both runs: docwatch's pages (born-digital too: layout comes from the VL path) and the bare ones
    assert len(stub.requests) >= 10 and {r["model"] for r in stub.requests} == {"PaddleOCR-VL-1.6-0.9B"}
