"""What `docwatch run` writes: every stdout line a JSON object, no credentials anywhere, and
one clear line (not a traceback) when it cannot start. The real daemon, as a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from tests.daemon_harness import REPO, manifest
    from tests.docs import make_structured_pdf, make_text_pdf
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from daemon_harness import REPO, manifest  # type: ignore[no-redef]
    from docs import make_structured_pdf, make_text_pdf  # type: ignore[no-redef]

pytestmark = pytest.mark.slow


def run_once(tmp: Path, inp: Path, out: Path, timeout: float = 300, **env: str) -> tuple[int, str, str]:
    """``docwatch run --once`` with stdout and stderr kept apart."""
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (env.pop("PYTHONPATH", ""), str(REPO)) if p),
        "DOCWATCH_LOG_FORMAT": "json",
        "DOCWATCH_HEALTH_PORT": "0",
        "DOCWATCH_SETTLE_SECONDS": "0",
        "DOCWATCH_POLL_INTERVAL": "0.5",
        **env,
    }
    cmd = [sys.executable, "-m", "watcher", "run", "--input", str(inp), "--output", str(out), "--once"]
    with (tmp / "stdout").open("wb") as so, (tmp / "stderr").open("wb") as se:
        rc = subprocess.run(cmd, stdout=so, stderr=se, env=environ, cwd=tmp, timeout=timeout).returncode
    return rc, (tmp / "stdout").read_text(errors="replace"), (tmp / "stderr").read_text(errors="replace")


def not_json_objects(text: str) -> list[str]:
    bad = []
    for line in text.splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except json.JSONDecodeError:
            bad.append(line)
    return bad


def test_every_stdout_line_is_a_json_object(tmp_path: Path) -> None:
    """PyMuPDF prints a hint ('Consider using the pymupdf_layout package…') the first time a
    process looks for tables, when the optional pymupdf-layout package is not installed, as in
    the container image. The test environment has it (the benchmarks need it), so a
    sitecustomize hides it from the daemon and every process it starts, like the image."""
    inp, out, site = tmp_path / "in", tmp_path / "out", tmp_path / "site"
    for d in (inp, site):
        d.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['pymupdf.layout'] = None\n")
    make_structured_pdf(inp / "tables.pdf")
    good = make_text_pdf(tmp_path / "good.pdf", ["A page whose cross-reference table is lost."]).path.read_bytes()
    (inp / "damaged.pdf").write_bytes(good[: good.rfind(b"xref")] + b"%%EOF\n")  # MuPDF must repair it

    rc, stdout, stderr = run_once(tmp_path, inp, out, PYTHONPATH=str(site), DOCWATCH_CPU__PAGE_WORKERS="2")
    assert rc == 0, stdout + stderr
    assert manifest(out, "tables.pdf")["status"] == "succeeded"
    assert manifest(out, "damaged.pdf")["status"] == "succeeded"
    events = [json.loads(line)["event"] for line in stdout.splitlines() if line.startswith("{")]
    assert events.count("document.succeeded") == 2
    assert not_json_objects(stdout) == []
