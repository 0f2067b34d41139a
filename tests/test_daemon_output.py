"""What `docwatch run` writes: every stdout line a JSON object, no credentials anywhere, and
one clear line (not a traceback) when it cannot start. The real daemon, as a subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

try:
    from tests.daemon_harness import REPO, manifest, start_daemon, wait_status
    from tests.docs import make_structured_pdf, make_text_pdf
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from daemon_harness import REPO, manifest, start_daemon, wait_status  # type: ignore[no-redef]
    from docs import make_structured_pdf, make_text_pdf  # type: ignore[no-redef]

pytestmark = pytest.mark.slow


def run_once(tmp: Path, inp: Path | str, out: Path, timeout: float = 300, **env: str) -> tuple[int, str, str]:
    """``docwatch run --once`` with stdout and stderr kept apart."""
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (env.pop("PYTHONPATH", ""), str(REPO)) if p),
        "DOCWATCH_LOG_FORMAT": "json",
        "DOCWATCH_HEALTH_PORT": "0",
        "DOCWATCH_SETTLE_SECONDS": "0",
        "DOCWATCH_POLL_INTERVAL": "0.5",
        **env,
    }
    cmd = [sys.executable, "-m", "watcher", "run", "--input", str(inp), "--output", str(out), "--once"]
    with (tmp / "stdout").open("wb") as so, (tmp / "stderr").open("wb") as se:
        rc = subprocess.run(cmd, stdout=so, stderr=se, env=environ, cwd=tmp, timeout=timeout).returncode
    return rc, (tmp / "stdout").read_text(errors="replace"), (tmp / "stderr").read_text(errors="replace")


def not_json_objects(text: str) -> list[str]:
    bad = []
    for line in text.splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except json.JSONDecodeError:
            bad.append(line)
    return bad


def test_every_stdout_line_is_a_json_object(tmp_path: Path) -> None:
    """PyMuPDF prints a hint ('Consider using the pymupdf_layout package…') the first time a
    process looks for tables, when the optional pymupdf-layout package is not installed, as in
    the container image. The test environment has it (the benchmarks need it), so a
    sitecustomize hides it from the daemon and every process it starts, like the image."""
    inp, out, site = tmp_path / "in", tmp_path / "out", tmp_path / "site"
    for d in (inp, site):
        d.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['pymupdf.layout'] = None\n")
    make_structured_pdf(inp / "tables.pdf")
    good = make_text_pdf(tmp_path / "good.pdf", ["A page whose cross-reference table is lost."]).path.read_bytes()
    (inp / "damaged.pdf").write_bytes(good[: good.rfind(b"xref")] + b"%%EOF\n")  # MuPDF must repair it

    rc, stdout, stderr = run_once(tmp_path, inp, out, PYTHONPATH=str(site), DOCWATCH_CPU__PAGE_WORKERS="2")
    assert rc == 0, stdout + stderr
    assert manifest(out, "tables.pdf")["status"] == "succeeded"
    assert manifest(out, "damaged.pdf")["status"] == "succeeded"
    events = [json.loads(line)["event"] for line in stdout.splitlines() if line.startswith("{")]
    assert events.count("document.succeeded") == 2
    assert not_json_objects(stdout) == []


def test_credentials_in_an_s3_endpoint_url_are_never_printed(tmp_path: Path) -> None:
    """botocore refuses an endpoint with userinfo, quoting it whole in its error: that error
    reached stderr as a traceback, and `docwatch doctor` printed it."""
    for var in ("DOCWATCH_S3__ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        secret = f"s3cr3t-{uuid.uuid4().hex[:12]}"
        env = {var: f"http://docwatch:{secret}@127.0.0.1:9/?X-Amz-Security-Token=tok-{secret}&region=x",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}  # fmt: skip
        run_dir = tmp_path / var
        run_dir.mkdir()
        rc, stdout, stderr = run_once(run_dir, "s3://bucket/in/", run_dir / "out", **env)
        assert rc == 2 and secret not in stdout + stderr, stdout + stderr
        [line] = stdout.splitlines()
        failed = json.loads(line)
        assert failed["event"] == "startup.failed" and "http://127.0.0.1:9/?region=x" in failed["error"], failed

        doctor = subprocess.run(
            [sys.executable, "-m", "watcher", "doctor", "--input", "s3://bucket/in/", "--output", str(run_dir / "out")],
            capture_output=True, text=True, timeout=120, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )  # fmt: skip
        assert secret not in doctor.stdout + doctor.stderr, doctor.stdout + doctor.stderr
        assert "[FAIL] input s3://bucket/in/" in doctor.stdout and "http://127.0.0.1:9/" in doctor.stdout


@pytest.mark.paddle
@pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed")
def test_credentials_in_the_vl_server_url_appear_nowhere(tmp_path: Path) -> None:
    """The URL (with user:password) was recorded in every manifest's engine options."""
    try:
        from tests.paddle_docs import make_pdf
        from tests.vl_stub_server import StubVLServer
    except ImportError:
        from paddle_docs import make_pdf  # type: ignore[no-redef]
        from vl_stub_server import StubVLServer  # type: ignore[no-redef]

    secret = f"pw-{uuid.uuid4().hex[:12]}"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.pdf").write_bytes(make_pdf([["Hello from a page read by the VL server."]]))
    out = tmp_path / "out"
    with StubVLServer() as stub:
        env = {
            "DOCWATCH_ENGINE": "paddleocr-vl",
            "DOCWATCH_PADDLE__DEVICE": "cpu",
            "DOCWATCH_PADDLE__USE_LAYOUT_DETECTION": "false",
            "DOCWATCH_PADDLE__VL_REC_BACKEND": "vllm-server",
            "DOCWATCH_PADDLE__VL_REC_SERVER_URL": f"http://docwatch:{secret}@127.0.0.1:{stub.port}/v1",
            "DOCWATCH_PADDLE__PIPELINE_VERSION": "v1.5",
            "DOCWATCH_PADDLE__CACHE_DIR": str(tmp_path / "pdx-cache"),
        }
        d = start_daemon(tmp_path, str(tmp_path / "in"), str(out), health=False, extra_env=env)
        try:
            m = wait_status(out, "page.pdf", timeout=240)
        finally:
            assert d.stop() == 0
        assert stub.requests  # the pages really went through the URL, credentials and all
    assert m["status"] == "succeeded", m
    assert m["engine"]["options"]["vl_rec_server_url"] == f"http://127.0.0.1:{stub.port}/v1"
    assert secret not in d.log_path.read_text(errors="replace")  # stdout and stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written and not [p for p in written if secret.encode() in p.read_bytes()]


def test_a_health_port_in_use_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, stdout, stderr = run_once(tmp_path, tmp_path / "in", tmp_path / "out", timeout=120,
                                      DOCWATCH_HEALTH_HOST="127.0.0.1", DOCWATCH_HEALTH_PORT=str(port))
    assert rc == 2, stdout + stderr
    assert stderr == "" and "Traceback" not in stdout
    [line] = stdout.splitlines()
    event = json.loads(line)
    assert event["event"] == "startup.failed" and f"127.0.0.1:{port}" in event["error"], event
    assert "in use" in event["error"] and "DOCWATCH_HEALTH_PORT" in event["error"], event
