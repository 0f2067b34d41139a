"""Page workers follow the CPUs this process may use (affinity, cgroup quota), not the host's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from processor.cpus import usable_cpus


def test_affinity_bounds_the_workers():
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c",
                          "from processor.cpus import usable_cpus; print(usable_cpus())"],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "1"


def _cgroup(tmp_path: Path, v2: str | None = None, v1: tuple[int, int] | None = None) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    (root / "kubepods" / "pod1").mkdir(parents=True)
    (root / "cpu" / "kubepods" / "pod1").mkdir(parents=True)
    proc = tmp_path / "proc-cgroup"
    if v2 is not None:
        (root / "kubepods" / "pod1" / "cpu.max").write_text(v2)
        proc.write_text("0::/kubepods/pod1\n")
    else:
        assert v1 is not None
        (root / "cpu" / "kubepods" / "pod1" / "cpu.cfs_quota_us").write_text(str(v1[0]))
        (root / "cpu" / "kubepods" / "pod1" / "cpu.cfs_period_us").write_text(str(v1[1]))
        proc.write_text("4:cpu,cpuacct:/kubepods/pod1\n")
    return root, proc


def test_a_cgroup_quota_bounds_the_workers(tmp_path: Path):
    cpus = len(os.sched_getaffinity(0))
    assert usable_cpus(*_cgroup(tmp_path / "a", v2="100000 100000\n")) == 1
    assert usable_cpus(*_cgroup(tmp_path / "b", v2="150000 100000\n")) == min(2, cpus)  # 1.5 CPUs: 2 workers
    assert usable_cpus(*_cgroup(tmp_path / "c", v2="max 100000\n")) == cpus  # unlimited
    assert usable_cpus(*_cgroup(tmp_path / "d", v1=(50000, 100000))) == 1  # cgroup v1
    assert usable_cpus(*_cgroup(tmp_path / "e", v1=(-1, 100000))) == cpus


def test_the_engine_starts_that_many_workers_unless_told(tmp_path: Path, monkeypatch):
    from processor.engines.cpu import engine as cpu_engine
    from processor.options import ConvertOptions, CpuEngineOptions

    monkeypatch.setattr(cpu_engine, "usable_cpus", lambda: 3)
    assert cpu_engine.CpuEngine(ConvertOptions())._workers == 3
    assert cpu_engine.CpuEngine(ConvertOptions(cpu=CpuEngineOptions(page_workers=5)))._workers == 5
