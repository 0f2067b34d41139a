"""Run docwatch the way its deployment files say: read the Dockerfile's ENTRYPOINT, CMD, ENV,
USER, HEALTHCHECK (or a systemd unit's ExecStart, User, Environment) and start exactly that,
as PID 1 of its own PID namespace (and its own network namespace, as a container has),
under a non-root uid. There is no container engine here; this is the closest thing, and it
catches what an engine would (a child that takes PID 1 for init, a signal PID 1 ignores,
files the image user cannot read or write)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


@dataclass
class Stage:
    """What one Dockerfile stage says about running the image."""

    env: dict[str, str] = field(default_factory=dict)
    user: str = "0"
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # image path -> repo path


def dockerfile_stage(path: Path, name: str) -> Stage:
    text = re.sub(r"\\\n", " ", path.read_text())
    stage, inside = Stage(), False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            inside = rest.split()[-1] == name
            continue
        if not inside:
            continue
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stage.env[key] = value
        elif word == "USER":
            stage.user = rest.strip()
        elif word == "WORKDIR":
            stage.workdir = rest.strip()
        elif word == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest)
        elif word == "CMD":
            stage.cmd = json.loads(rest)
        elif word == "HEALTHCHECK":
            stage.healthcheck = json.loads(rest.split(" CMD ", 1)[1])
        elif word == "COPY" and not rest.startswith("--from"):
            *sources, dest = rest.split()
            for src in sources:
                target = dest if not dest.endswith("/") else dest + Path(src).name
                stage.copies[target] = src
    return stage


@dataclass
class Unit:
    """What a systemd unit says about running docwatch."""

    exec_start: list[str]
    user: str
    env: dict[str, str]
    env_file: str | None
    timeout_stop: float


def systemd_unit(path: Path) -> Unit:
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    env = dict(v.split("=", 1) for v in values.get("Environment", []))
    stop = values.get("TimeoutStopSec", ["90"])[0].rstrip("s")
    return Unit(shlex.split(values["ExecStart"][0]), values["User"][0], env,
                (values.get("EnvironmentFile") or [None])[0], float(stop))


def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def image_bin(stage: Stage, into: Path) -> Path:
    """The image's /usr/local/bin: docwatch and python3 from this checkout's venv, plus
    every file the stage COPYs there (e.g. the healthcheck script)."""
    into.mkdir(parents=True, exist_ok=True)
    into.chmod(0o755)
    (into / "docwatch").symlink_to(VENV_BIN / "docwatch")
    (into / "python3").symlink_to(VENV_BIN / "python")
    for image_path, repo_path in stage.copies.items():
        if image_path.startswith("/usr/local/bin/") and (ROOT / repo_path).is_file():
            target = into / Path(image_path).name
            if not target.exists():
                target.symlink_to(ROOT / repo_path)
    return into


def world_dir(prefix: str, uid: int = 0, gid: int = 0) -> Path:
    """A temp folder the image user can use (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    os.chown(path, uid, gid)
    return path


def uid_gid(user: str) -> tuple[int, int]:
    """'10001:10001' as in a Dockerfile; a name (systemd User=) maps to a fixed free uid here."""
    if user.replace(":", "").isdigit():
        uid, _, gid = user.partition(":")
        return int(uid), int(gid or uid)
    return 10002, 10002


@dataclass
class Contained:
    """docwatch as PID 1 of fresh PID and network namespaces, as a non-root uid."""

    outer: subprocess.Popen  # `unshare`, which waits for PID 1 and passes on its exit code
    env: dict[str, str]
    uid: int
    gid: int
    log: Path

    def pid1(self) -> int:
        """PID 1's pid as seen from outside (the child of `unshare`)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = Path(f"/proc/{self.outer.pid}/task/{self.outer.pid}/children")
            pids = children.read_text().split() if children.exists() else []
            if pids:
                return int(pids[0])
            time.sleep(0.05)
        raise AssertionError("PID 1 never started")

    def exec_inside(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command in PID 1's network namespace as the image user (HEALTHCHECK does)."""
        cmd = ["nsenter", f"--net=/proc/{self.pid1()}/ns/net", "--", *as_user(self.uid, self.gid), *argv]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def signal(self, sig: int) -> None:
        os.kill(self.pid1(), sig)

    def wait(self, timeout: float) -> int:
        return self.outer.wait(timeout=timeout)

    def kill(self) -> None:
        if self.outer.poll() is None:
            try:
                os.kill(self.pid1(), signal.SIGKILL)  # PID 1 dying takes the namespace with it
            except (ProcessLookupError, AssertionError):
                pass
            self.outer.kill()
            self.outer.wait(timeout=30)

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


def as_user(uid: int, gid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def _blocked_ancestor(path: Path) -> tuple[Path, Path] | None:
    """The first folder on ``path`` that others cannot enter, and its child on the path."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent, Path(*path.parts[: len(parent.parts) + 1])
    return None


def _expose_python(staging: Path) -> str:
    """An image's files are readable by its user. This machine may keep Python under a folder
    only root can enter (pyenv in /root): inside the mount namespace, lay an empty readable
    folder over that one with just Python's tree bound back in. The host is not changed."""
    python_home = Path(sys.base_prefix).resolve()
    blocked = _blocked_ancestor(python_home)
    if blocked is None:
        return ""
    parent, child = blocked
    return (f"mount --bind {shlex.quote(str(child))} {shlex.quote(str(staging))} && "
            f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(parent))} && "
            f"mkdir -p {shlex.quote(str(child))} && mount --bind {shlex.quote(str(staging))} {shlex.quote(str(child))} && ")


def run_contained(argv: list[str], env: dict[str, str], uid: int, gid: int, cwd: Path, log: Path) -> Contained:
    """`unshare --pid --fork --mount-proc --net`: the shell brings loopback up and execs, so
    ``argv`` (through setpriv, which execs too) becomes PID 1."""
    staging = Path(tempfile.mkdtemp(prefix="dw-python-"))
    inner = _expose_python(staging) + "ip link set lo up && exec " + shlex.join([*as_user(uid, gid), *argv])
    outer = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "--net", "sh", "-c", inner],
        env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    return Contained(outer, env, uid, gid, log)


def which(name: str) -> bool:
    return shutil.which(name) is not None
