"""How many CPUs this process may really use: its affinity, capped by its cgroup's CPU quota.

``os.cpu_count()`` is the host's: on a 64-core node a container limited to 2 CPUs would start
64 page workers (and be throttled, or killed for their memory). A quota of 1.5 CPUs counts as 2.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root, proc_cgroup)
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_quota(root: Path, proc_cgroup: Path) -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), None when unlimited."""
    for folder in _own_cgroup_folders(root, proc_cgroup):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            if quota != "max":
                return int(quota) / int(period)
            continue
        except (OSError, ValueError):
            pass
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
            if quota_us > 0 and period_us > 0:
                return quota_us / period_us
        except (OSError, ValueError):
            pass
    return None


def _own_cgroup_folders(root: Path, proc_cgroup: Path) -> list[Path]:
    """This process's cgroup folders (v2 unified, v1 cpu controller), then the root's."""
    folders = []
    try:
        for line in proc_cgroup.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                folders.append(root / path.lstrip("/"))
            elif "cpu" in controllers.split(","):
                folders.append(root / "cpu" / path.lstrip("/"))
                folders.append(root / controllers / path.lstrip("/"))
    except (OSError, ValueError):
        pass
    return [*folders, root, root / "cpu"]
