"""systemd: the unit's sandbox scores an exposure of at most 2.0 in ``systemd-analyze security``
(offline, the unit file alone) while GPU devices and the network stay usable, and its install
steps put Paddle's GPU wheel in first, at the versions the image and the tests use."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "systemd" / "docwatch.service"
ROOT = UNIT.parents[2]
MAX_EXPOSURE = 2.0


def settings(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_exposure_at_most_two() -> None:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze not installed (scripts/bootstrap.sh test installs systemd)"
    proc = subprocess.run(
        [exe, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout + proc.stderr
    m = re.search(r"Overall exposure level for docwatch\.service: (\d+\.\d+)", out)
    assert m, out
    assert float(m.group(1)) <= MAX_EXPOSURE, out
    assert re.search(r"✓ NoNewPrivileges=", out) and re.search(r"✓ SystemCallFilter=~@privileged", out), out


def test_gpu_devices_and_network_stay_usable() -> None:
    svc = settings(UNIT.read_text())
    assert "PrivateDevices" not in svc and "PrivateNetwork" not in svc and "IPAddressDeny" not in svc
    assert svc["DevicePolicy"] == ["closed"]
    allowed = {v.split()[0]: v.split()[1] for v in svc["DeviceAllow"]}
    # nvidiactl + every /dev/nvidiaN (nvidia-frontend), CUDA's unified memory, MIG capabilities
    for device in ("char-nvidiactl", "char-nvidia-frontend", "char-nvidia-uvm", "char-nvidia-caps"):
        assert allowed.get(device) == "rw", device
    families = svc["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"} <= set(families)  # NETLINK: glibc getaddrinfo
    assert "MemoryDenyWriteExecute" not in svc  # oneDNN's JIT kernels need W+X pages
    assert svc["SystemCallFilter"][0] == "@system-service" and svc["SystemCallErrorNumber"] == ["EPERM"]


def test_install_steps_put_the_gpu_wheel_first() -> None:
    text = UNIT.read_text()
    steps = [
        ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("#") and "pip install" in ln
    ]
    gpu = next(i for i, s in enumerate(steps) if "paddlepaddle-gpu==" in s)
    main = next(i for i, s in enumerate(steps) if "install 'docwatch[cpu,paddle]'" in s)
    assert gpu < main and '--extra-index-url "$PADDLE_GPU_INDEX_URL"' in steps[gpu]
    assert not any("paddle-cpu]" in s for s in steps)  # its CPU wheel would overwrite the GPU one
    pyproject = (ROOT / "pyproject.toml").read_text()
    paddle_pin = re.search(r'"paddlepaddle==([\d.]+)"', pyproject).group(1)
    assert f"paddlepaddle-gpu=={paddle_pin} " in steps[gpu]
    assert '"paddleocr[doc-parser]' in re.search(r"^paddle = \[(.*)\]$", pyproject, re.MULTILINE).group(1)
    assert f"ARG PADDLEPADDLE_GPU_VERSION={paddle_pin}" in (ROOT / "Dockerfile").read_text()
