"""docwatch started exactly as its deployment files start it: the Dockerfile's ENTRYPOINT/CMD,
ENV, USER and HEALTHCHECK as PID 1 of its own PID and network namespaces; the systemd unit's
ExecStart, Environment and User. Documents are converted, the health check answers, and
SIGTERM ends it with exit 0."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests import docs
from tests.daemon_harness import wait_for
from tests.deployed import (
    ROOT,
    dockerfile_stage,
    env_file,
    image_bin,
    run_contained,
    systemd_unit,
    uid_gid,
    which,
    world_dir,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(which(t) for t in ("unshare", "nsenter", "setpriv", "ip")),
    reason="needs root and util-linux (unshare, nsenter, setpriv) to start a namespace",
)


def _manifest(out: Path, key: str) -> dict | None:
    try:
        return json.loads((out / key / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _drop_documents(inp: Path, uid: int, gid: int) -> list[str]:
    docs.make_scan_png(inp / "scan.png")
    docs.make_multipage_pdf(inp / "report.pdf", n=3)
    for path in inp.iterdir():
        os.chown(path, uid, gid)
    return ["scan.png", "report.pdf"]


def _wait_succeeded(out: Path, keys: list[str], proc, timeout: float = 180) -> None:
    def done() -> bool:
        assert proc.outer.poll() is None, f"exited {proc.outer.returncode}: {proc.lines()[-5:]}"
        return all((m := _manifest(out, k)) and m["status"] == "succeeded" for k in keys)

    wait_for(done, timeout=timeout, what=f"{keys} to succeed")


def test_container_entrypoint_as_pid1_and_image_user(tmp_path):
    stage = dockerfile_stage(ROOT / "Dockerfile", "cpu")
    assert stage.entrypoint and stage.healthcheck and stage.user != "0"
    uid, gid = uid_gid(stage.user)
    home = world_dir("dw-home-", uid, gid)
    inp, out = world_dir("dw-in-", uid, gid), world_dir("dw-out-", uid, gid)
    binary = image_bin(stage, world_dir("dw-bin-") / "usr-local-bin")
    # What the image sets, with its home where this machine can have one; what an operator
    # adds (`docker run -e ...`): the folders.
    env = {**stage.env, "HOME": str(home), "PATH": f"{binary}:/usr/bin:/bin",
           "DOCWATCH_INPUT": str(inp), "DOCWATCH_OUTPUT": str(out), "DOCWATCH_POLL_INTERVAL": "1"}
    keys = _drop_documents(inp, uid, gid)
    proc = run_contained(stage.entrypoint + stage.cmd, env, uid, gid, cwd=home, log=tmp_path / "pid1.log")
    try:
        _wait_succeeded(out, keys, proc)
        # the image's HEALTHCHECK, run the way the engine runs it: inside, as the image user
        health = proc.exec_inside(stage.healthcheck)
        assert health.returncode == 0, health.stderr
        ready = proc.exec_inside([*stage.healthcheck, "/readyz"])
        assert ready.returncode == 0, ready.stderr
        proc.signal(signal.SIGTERM)  # `docker stop`: SIGTERM to PID 1
        assert proc.wait(timeout=60) == 0, proc.lines()[-5:]
    finally:
        proc.kill()
    events = [json.loads(line)["event"] for line in proc.lines() if line.startswith("{")]
    assert "engine.load_failed" not in events and events[-1] == "daemon.stop"
    assert all(stat.st_uid == uid for stat in (p.stat() for p in out.rglob("*")))


def test_systemd_exec_start_as_its_user(tmp_path):
    unit = systemd_unit(ROOT / "deploy" / "systemd" / "docwatch.service")
    example = env_file(ROOT / "deploy" / "systemd" / "docwatch.env.example")
    uid, gid = uid_gid(unit.user)
    home = world_dir("dw-state-", uid, gid)
    inp, out = world_dir("dw-in-", uid, gid), world_dir("dw-out-", uid, gid)
    binary = image_bin(dockerfile_stage(ROOT / "Dockerfile", "cpu"), world_dir("dw-bin-") / "bin")
    exe = unit.exec_start[0]
    assert exe.endswith("/bin/docwatch"), exe
    # EnvironmentFile first, Environment= fills gaps; the example's GPU engine and S3 buckets
    # are swapped for what this machine has, as an operator editing the file would.
    env = {**unit.env, **example, "HOME": str(home), "PATH": f"{binary}:/usr/bin:/bin",
           "DOCWATCH_ENGINE": "cpu", "DOCWATCH_INPUT": str(inp), "DOCWATCH_OUTPUT": str(out),
           "PADDLE_PDX_CACHE_HOME": str(home / "paddlex"), "DOCWATCH_POLL_INTERVAL": "1"}
    keys = _drop_documents(inp, uid, gid)
    argv = [str(binary / "docwatch"), *unit.exec_start[1:]]
    proc = run_contained(argv, env, uid, gid, cwd=home, log=tmp_path / "unit.log")
    try:
        _wait_succeeded(out, keys, proc)
        started = time.monotonic()
        proc.signal(signal.SIGTERM)  # KillSignal=SIGTERM
        assert proc.wait(timeout=unit.timeout_stop) == 0
        assert time.monotonic() - started < unit.timeout_stop
    finally:
        proc.kill()
