"""`docker build .` with no build args: every ARG has a default, the images install the hashed
locks, and the models lock is recorded on the first build and verified after (no Docker engine
here: the Dockerfiles are parsed and the build's scripts run)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.test_deploy import DOCKERFILES, _fake_docwatch

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "deploy" / "docker"
FILLED = {"lock_version": 1, "models": {"PP-DocLayoutV3": {"inference.json": "0" * 64}}}


def stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", text)
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_arg_has_a_default(dockerfile):
    args = re.findall(r"^ARG\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
    assert args
    missing = [a for a in args if "=" not in a]
    assert not missing, f"{dockerfile.name}: `docker build` without --build-arg needs defaults for {missing}"


def test_paddle_index_default_is_the_documented_cu126_index():
    (url,) = re.findall(r"^ARG PADDLE_GPU_INDEX_URL=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    # Paddle's own host (named in the Dockerfile only), its stable CUDA 12.6 index
    assert url.startswith("https://www.paddlepaddle.") and url.endswith("/packages/stable/cu126/"), url


def test_images_install_the_locks_with_hashes():
    text = (ROOT / "Dockerfile").read_text()
    by_stage = stages(text)
    for stage, lock in (("cpu", "requirements/cpu.txt"), ("paddleocr-vl", "requirements/paddle.txt")):
        body = by_stage[stage]
        assert f"COPY {lock} /tmp/requirements.txt" in body, stage
        installs = re.findall(r"pip install ([^&\n]*)", body)
        assert any("--require-hashes --no-deps -r /tmp/requirements.txt" in i for i in installs), stage
        for args in installs:  # the lock, docwatch itself without deps, and the GPU wheel alone
            args = args.split()
            assert (
                ("--require-hashes" in args and "-r" in args)
                or args[-1] == "."
                and "--no-deps" in args
                or args[-1] == '"paddlepaddle-gpu==${PADDLEPADDLE_GPU_VERSION}"'
            ), f"{stage}: pip install {args}"
        assert (ROOT / lock).is_file()
    # the GPU wheel comes after the lock, so what the lock holds stays as locked
    gpu = by_stage["paddleocr-vl"]
    assert gpu.index("-r /tmp/requirements.txt") < gpu.index("paddlepaddle-gpu==")
    # the CPU image's OpenCV is headless: no GUI libraries from Debian
    assert "libgl1" not in by_stage["cpu"] and "libgl1" in gpu


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_models_lock_mode_defaults_to_auto(dockerfile):
    text = dockerfile.read_text()
    assert "ARG MODELS_LOCK_MODE=auto" in text
    assert "models-lock-mode.sh" in text or "fetch-models.sh" in text


def _mode(tmp_path: Path, mode: str, lock: dict | None) -> subprocess.CompletedProcess:
    path = tmp_path / "models.lock.json"
    if lock is not None:
        path.write_text(json.dumps(lock))
    script = str(DOCKER / "models-lock-mode.sh")
    return subprocess.run([script, mode, str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("mode", "lock", "out"), [
    ("auto", None, "record"), ("auto", {"lock_version": 1, "models": {}}, "record"), ("auto", FILLED, "verify"),
    ("verify", FILLED, "verify"), ("record", FILLED, "record"), ("record", None, "record"),
])  # fmt: skip
def test_models_lock_mode(tmp_path, mode, lock, out):
    proc = _mode(tmp_path, mode, lock)
    assert proc.returncode == 0 and proc.stdout.strip() == out, proc.stderr


@pytest.mark.parametrize("lock", [None, {"lock_version": 1, "models": {}}])
def test_verify_refuses_a_lock_that_pins_nothing(tmp_path, lock):
    proc = _mode(tmp_path, "verify", lock)
    assert proc.returncode == 2 and "pins no model" in proc.stderr
    bad = _mode(tmp_path, "trust-me", FILLED)
    assert bad.returncode == 2 and "auto, verify or record" in bad.stderr


def test_first_build_records_the_lock_and_prints_it_then_verifies(tmp_path):
    env, log = _fake_docwatch(tmp_path)
    lock, cache = tmp_path / "models.lock.json", tmp_path / "paddlex"
    lock.write_text('{"lock_version": 1, "models": {}}\n')  # as committed before the first build
    script = str(DOCKER / "fetch-models.sh")
    first = subprocess.run([script, str(cache), "paddleocr-vl", "v1.6", str(lock)], env=env, capture_output=True, check=False,
                           text=True)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "models lock mode: record" in first.stdout and '"lock_version": 1' in first.stdout
    assert log.read_text().splitlines()[0].split(" | ")[0].endswith(f"--lock {lock} --record-lock")
    lock.write_text(json.dumps(FILLED))  # committed: later builds verify
    later = subprocess.run([script, str(cache), "paddleocr-vl", "v1.6", str(lock)], env=env, capture_output=True, check=False,
                           text=True)  # fmt: skip
    assert later.returncode == 0 and "models lock mode: verify" in later.stdout
    assert log.read_text().splitlines()[2].split(" | ")[0].endswith(f"--lock {lock}")
    lock.write_text('{"lock_version": 1, "models": {}}\n')
    refused = subprocess.run([script, str(cache), "paddleocr-vl", "v1.6", str(lock), "verify"], env=env,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert refused.returncode == 2 and len(log.read_text().splitlines()) == 4  # nothing fetched


def test_vllm_image_decides_the_lock_mode_the_same_way():
    text = (ROOT / "deploy" / "compose" / "vllm-server.Dockerfile").read_text()
    assert "COPY deploy/docker/models-lock-mode.sh /usr/local/bin/" in text
    assert 'models-lock-mode.sh "${MODELS_LOCK_MODE}" /opt/paddlex-models.lock.json' in text
    assert (
        "COPY deploy/docker/fetch-models.sh deploy/docker/models-lock-mode.sh"
        in (ROOT / "Dockerfile").read_text()
    )
