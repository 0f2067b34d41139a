"""The command line as a user runs it: convert, status, retry, doctor, schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.daemon_harness import REPO
from tests.docs import make_multipage_pdf, make_text_pdf


def docwatch(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "DOCWATCH_CPU__PAGE_WORKERS": "1", **(env or {})},
    )


def test_convert_one_document_writes_outputs(tmp_path: Path) -> None:
    doc = make_multipage_pdf(tmp_path / "three pages.pdf", n=3)
    r = docwatch("convert", str(doc.path), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "out" / "three pages.md").read_text()
    for i in (1, 2, 3):
        assert f"<!-- page {i} -->" in md and f"Страница номер {i}" in md
    data = json.loads((tmp_path / "out" / "three pages.json").read_text())
    assert len(data["pages"]) == 3 and data["engine"]["name"] == "cpu"
    assert str(tmp_path / "out" / "three pages.md") in r.stdout


def test_convert_bad_file_says_why(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(b"hello")
    r = docwatch("convert", str(tmp_path / "x.pdf"), cwd=tmp_path)
    assert r.returncode == 4 and "UnsupportedFormat" in r.stderr


def test_status_and_retry_after_a_run(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "good.pdf", ["Fine."])
    (tmp_path / "in" / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    r = docwatch("run", "--input", "in", "--output", "out", "--once", "--health-port", "0", cwd=tmp_path,
                 env={"DOCWATCH_LOG_FORMAT": "json"})
    assert r.returncode == 4, r.stdout + r.stderr  # broken.pdf failed
    st = docwatch("status", "out", cwd=tmp_path)
    assert "2 documents" in st.stdout and "succeeded   1" in st.stdout and "failed      1" in st.stdout
    assert "broken.pdf" in st.stdout and "CorruptInput" in st.stdout
    every = docwatch("status", "out", "--all", cwd=tmp_path).stdout.splitlines()
    assert any(line.startswith("succeeded") and "1/1" in line and line.endswith("good.pdf") for line in every)
    assert any(line.startswith("failed") and line.endswith("broken.pdf") for line in every)
    rt = docwatch("retry", "out", "--failed", cwd=tmp_path)
    assert "re-queued 1 document(s)" in rt.stdout and "broken.pdf" in rt.stdout
    assert json.loads((tmp_path / "out" / "broken.pdf" / "manifest.json").read_text())["status"] == "queued"
    r2 = docwatch("run", "--input", "in", "--output", "out", "--once", "--health-port", "0", cwd=tmp_path,
                  env={"DOCWATCH_LOG_FORMAT": "json"})
    assert r2.stdout.count('"document.claimed"') == 1 and '"key": "broken.pdf"' in r2.stdout


def test_doctor_reports_in_plain_words(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    ok = docwatch("doctor", "--input", "in", "--output", "out", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout
    assert "[ok] engine cpu: tesseract ok" in ok.stdout
    bad = docwatch("doctor", "--input", "missing", "--output", "missing/out", cwd=tmp_path)
    assert bad.returncode == 1
    assert "[FAIL] input/output do not overlap" in bad.stdout and "[FAIL] input missing" in bad.stdout


def test_invalid_setting_is_a_clear_error(tmp_path: Path) -> None:
    r = docwatch("run", "--input", "in", "--output", "out", cwd=tmp_path, env={"DOCWATCH_POLL_INTERVAL": "soon"})
    assert r.returncode == 2 and "DOCWATCH_POLL_INTERVAL" in r.stdout and "Traceback" not in r.stderr
