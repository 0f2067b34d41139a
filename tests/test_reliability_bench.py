"""bench/reliability.py in small: real replicas through kill -9s, an outage, a partition and
random S3 faults; nothing may be lost, converted twice, or listed in a manifest wrongly.

The bench runs as a subprocess, the way it is run by hand; its processes (daemons, engine
children) are watched from /proc while it runs, so the test also sees that it leaves none
behind, after a normal end and after Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from tests.replica_fleet import alive, descendants
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from replica_fleet import alive, descendants  # type: ignore[no-redef]

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SHORT = ["--docs", "8", "--kills", "2", "--outage", "10", "--lease", "5", "--slow-seconds", "10",
         "--partition-seconds", "14", "--steady", "4", "--settle", "30", "--max-seconds", "80"]  # fmt: skip


def run_bench(args: list[str], timeout: float, interrupt_when: int | None = None) -> tuple[int, str, set]:
    """Run the bench; every process under it seen while it ran is returned. With
    ``interrupt_when``: SIGINT (Ctrl-C) once that many processes run under it."""
    proc = subprocess.Popen([sys.executable, str(REPO / "bench/reliability.py"), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    seen: set = set()
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen |= descendants(proc.pid)
            if interrupt_when is not None and len(seen) >= interrupt_when:
                proc.send_signal(signal.SIGINT)
                interrupt_when = None
            time.sleep(0.2)
        assert proc.poll() is not None, f"the bench ran longer than {timeout} s"
        return proc.returncode, proc.stdout.read() if proc.stdout else "", seen
    finally:
        proc.kill()
        proc.wait()


def test_short_run_loses_nothing_and_converts_nothing_twice(tmp_path: Path) -> None:
    started = time.monotonic()
    code, output, seen = run_bench([*SHORT, "--json", str(tmp_path / "r.json")], timeout=88)
    assert code == 0, output[-3000:]
    r = json.loads((tmp_path / "r.json").read_text())
    inj, out = r["injected"], r["outcome"]
    # what was done to it happened
    assert inj["kill9"] == 2 and inj["outage_seconds"] >= 10
    assert inj["partitions"] == 1 and inj["partition_mid_document"], r["details"]["partition"]
    assert inj["faults_by_phase"]["outage"].get("slowdown", 0) > 0
    assert inj["faults_by_phase"]["partition"].get("slow", 0) > 0
    assert not r["details"]["timed_out"]
    # and it came through
    details = json.dumps(r["details"], indent=1)[:4000]
    assert out["lost"] == 0, details
    assert out["converted_twice"] == 0, r["conversions"]
    assert out["mismatched_manifests"] == 0, details
    assert out["succeeded"] + out["failed"] == 8
    assert "| **lost**" in output  # the table
    assert seen and not alive(seen), "the bench left processes behind"
    assert time.monotonic() - started < 90


def test_ctrl_c_stops_every_process_it_started(tmp_path: Path) -> None:
    # 3 daemons, each with its engine child: interrupt once they all run
    code, output, seen = run_bench(SHORT, timeout=60, interrupt_when=6)
    assert code == 130, output[-3000:]
    assert len(seen) >= 6
    time.sleep(0.5)
    assert not alive(seen), "processes outlived the interrupted bench"
