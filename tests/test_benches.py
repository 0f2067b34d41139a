"""Each bench in bench/ runs end to end in a tiny configuration and reports well-formed figures:
the counts and states it reports, not its timings (timings are the bench's business)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def run_bench(name: str, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, f"bench/{name}.py", *args, "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.paddle
@pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed")
def test_throughput_bench_reports_every_part(tmp_path: Path) -> None:
    r = run_bench("throughput", tmp_path, "--docs", "2", "--pdf-pages", "2", "--long-docs", "3", "--latency", "0.05",
                  "--engine-seconds", "0.05")  # fmt: skip
    assert r["bare"]["stream"]["pages"] == 2 and r["bare"]["pdf"]["pages"] == 2
    for run in (r["local"]["stream"], r["s3"]):
        assert run["documents"] == run["succeeded"] == run["pages"] == 2
        assert {"claim", "fetch", "convert", "publish"} <= set(run["stage_mean_s"])
    assert r["s3_long"]["succeeded"] == r["local"]["long_stream"]["succeeded"] == r["bare"]["long_stream"]["pages"] == 3
    assert r["local"]["pdf"]["succeeded"] == 1 and r["local"]["pdf"]["pages"] == 2
    assert r["s3"]["s3_requests"] > 0  # the daemon really went through the slow proxy
    assert set(r["ratios"]) == {"local stream", "local long stream", "local pdf", "local pdf vs arrays", "s3 stream",
                                "s3 long stream"}
    assert all(v > 0 for v in r["ratios"].values())
    eff = r["efficiency"]
    assert eff["succeeded"] == eff["engine_pages"] == 2 and 0 < eff["efficiency"] <= 1.0
    # the bare pipeline's 2 + 2 pages, its warm-up, the daemons' warm-ups and 2 + 2 + 2 pages: one request each
    assert r["vl_requests"] >= 2 + 3 + 2 + 7


def test_memory_bench_measures_the_whole_process_tree(tmp_path: Path) -> None:
    r = run_bench("memory", tmp_path, "--pages", "1", "3")
    assert [run["pages"] for run in r["runs"]] == [1, 3]
    for run in r["runs"]:
        assert run["status"] == "succeeded" and run["pages_done"] == run["pages"]
        assert run["processes_at_peak"] >= 3  # daemon, engine child, its page workers
        assert run["peak_mb"] >= run["idle_mb"] > 0 and run["growth_mb"] >= 0 and run["samples"] > 0
    assert r["ratio_large_to_small"] > 0


def test_resume_bench_counts_pages_across_the_kill(tmp_path: Path) -> None:
    r = run_bench("resume", tmp_path, "--pages", "3", "--page-workers", "1")
    assert r["final_status"] == "succeeded" and r["final_pages"]["done"] == 3 and r["attempts"] == 2
    assert 1 <= r["killed_after_pages"] <= r["checkpoints_at_kill"] < 3
    assert r["successor_resumed_pages"] == r["checkpoints_at_kill"]
    assert r["successor_converted"] == 3 - r["checkpoints_at_kill"]
    assert r["page_converted_events_total"] == r["killed_after_pages"] + r["successor_converted"]
