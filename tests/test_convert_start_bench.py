"""bench/convert_start.py runs and reports its figures (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon_harness import REPO


def test_convert_start_bench_reports_both_documents(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "bench/convert_start.py", "--runs", "1", "--json", str(tmp_path / "r.json")],
                       cwd=REPO, capture_output=True, text=True, timeout=300, check=False, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    got = json.loads((tmp_path / "r.json").read_text())
    assert [row["document"] for row in got["rows"]] == ["one-page text PDF", "one-page scanned PDF"]
    assert all(row["runs"] == 1 and row["median_s"] > 0 and row["exit_codes"] == [0] for row in got["rows"])
    assert "one-page text PDF" in r.stdout and "median s" in r.stdout
