"""The command line tells failure apart: exit codes, --version, status/retry of what is not there,
and a --help that imports no engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon_harness import REPO
from tests.docs import make_text_pdf
from tests.test_cli_config import docwatch


def test_help_imports_no_engine_pdf_library_or_s3_client() -> None:
    code = ("import sys, watcher.cli as c; c.build_parser().format_help(); "
            "print([m for m in ('pymupdf', 'fitz', 'boto3', 'botocore', 'numpy', 'processor.engines', "
            "'processor.convert') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    r = docwatch("--help", cwd=tmp_path)
    assert r.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 "):
        assert f"\n  {code}" in r.stdout, r.stdout


def test_version_names_docwatch_and_the_engine(tmp_path: Path) -> None:
    r = docwatch("--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("docwatch ")
    assert "engine cpu" in r.stdout and "pymupdf " in r.stdout and "tesseract " in r.stdout


def test_convert_writes_stem_files_into_the_output_dir(tmp_path: Path) -> None:
    make_text_pdf(tmp_path / "f.pdf", ["Hello there."])
    r = docwatch("convert", "f.pdf", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "f.md").is_file() and (tmp_path / "out" / "f.json").is_file()
    assert "Hello there." in (tmp_path / "out" / "f.md").read_text()


def test_convert_of_a_failed_document_exits_4(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(b"hello")
    r = docwatch("convert", "x.pdf", cwd=tmp_path)
    assert r.returncode == 4 and "UnsupportedFormat" in r.stderr


def test_status_of_a_missing_store_is_an_error(tmp_path: Path) -> None:
    r = docwatch("status", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == 1 and "nowhere" in r.stderr and "documents" not in r.stdout


def test_run_once_with_a_failure_then_status_json_and_retry_of_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "good.pdf", ["Fine."])
    (tmp_path / "in" / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    r = docwatch("run", "--input", "in", "--output", "out", "--once", "--health-port", "0", cwd=tmp_path,
                 env={"DOCWATCH_LOG_FORMAT": "json", "DOCWATCH_MAX_ATTEMPTS": "1"})
    assert r.returncode == 4, r.stdout[-2000:]
    st = docwatch("status", "out", "--json", cwd=tmp_path)
    assert st.returncode == 0, st.stderr
    data = json.loads(st.stdout)
    assert data["counts"]["succeeded"] == 1 and data["counts"]["failed"] == 1
    assert {d["key"]: d["status"] for d in data["documents"]} == {"good.pdf": "succeeded", "broken.pdf": "failed"}
    rt = docwatch("retry", "out", "good.pdf", "nothere.pdf", cwd=tmp_path)
    assert rt.returncode == 1 and "nothere.pdf" in rt.stderr


def test_convert_progress_counts_distinct_pages_and_never_passes_its_total() -> None:
    from watcher.cli import PageTally

    tally = PageTally()
    seen = [tally.add(n, 3) for n in (1, 2, 2, 3, 1, 3)]  # pages 2, 1 and 3 revised at the end
    assert seen == [1, 2, 2, 3, 3, 3]
