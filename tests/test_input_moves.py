"""``DOCWATCH_ON_SUCCESS=move``: only the version that was converted is moved away.

A newer upload of the same key that lands while the old one is being converted must stay in
place and be converted in turn (then moved too). Run as deployed: the real daemon as a
subprocess, on S3 (moto over HTTP) and on local folders.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymupdf
import pytest

try:
    from tests.daemon_harness import DaemonProc, manifest, start_daemon
    from tests.docs import make_scanned_pdf
    from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401
    from tests.test_s3_edge_cases import s3_env, s3_manifest, storage, text_pdf
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from daemon_harness import DaemonProc, manifest, start_daemon  # type: ignore[no-redef]
    from docs import make_scanned_pdf  # type: ignore[no-redef]
    from s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # type: ignore[no-redef] # noqa: F401
    from test_s3_edge_cases import s3_env, s3_manifest, storage, text_pdf  # type: ignore[no-redef]

from watcher.manifest import Status

pytestmark = pytest.mark.slow
KEY = "inbox/report.pdf"
SECOND = "the second version, uploaded while the first was converted"


def scanned_pdf(pages: int) -> bytes:
    """Image-only pages: OCR takes about a second each, long enough to upload during it."""
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "scan.pdf"
        make_scanned_pdf(one, text="A scanned page with words to recognise. " * 10)
        src, out = pymupdf.open(one), pymupdf.open()
        for _ in range(pages):
            out.insert_pdf(src)
        return out.tobytes()


def wait_until(what: Callable[[], object], timeout: float, d: DaemonProc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        assert d.proc.poll() is None, f"daemon exited {d.proc.returncode}:\n{d.log_path.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s:\n{d.log_path.read_text()[-3000:]}")


@pytest.fixture
def daemon(tmp_path: Path):
    procs: list[DaemonProc] = []

    def start(inp: str, out: str, **env: str) -> DaemonProc:
        d = start_daemon(tmp_path, inp, out, name="mover", health=False, extra_env={"DOCWATCH_ON_SUCCESS": "move", **env})
        procs.append(d)
        return d

    yield start
    for d in procs:
        try:
            d.stop(timeout=30)
        except subprocess.TimeoutExpired:
            d.proc.kill()


def test_s3_move_leaves_a_newer_upload_in_place_and_converts_it(moto_s3: MotoS3, s3_bucket: str, daemon) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put(KEY, scanned_pdf(2))
    d = daemon(f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/out/", **s3_env(moto_s3.url))
    wait_until(lambda: d.count("document.convert.start", key=KEY) == 1, 120, d)
    second = text_pdf(SECOND)
    new_etag = inp.put(KEY, second)

    def second_converted() -> bool:
        m = s3_manifest(out, KEY)
        return m is not None and m.source.etag == new_etag and m.status is Status.SUCCEEDED

    wait_until(second_converted, 150, d)
    wait_until(lambda: inp.head(KEY) is None, 60, d)  # ...and then moved away, like the first
    assert inp.get(f"done/{KEY}")[0] == second
    assert SECOND in out.get(f"{KEY}/report.md")[0].decode()
    assert d.count("document.convert.start", key=KEY) == 2
    assert d.count("input.move_skipped", key=KEY) == 1
    assert d.count("input.moved", key=KEY) == 1


def test_local_move_leaves_a_newer_file_in_place_and_converts_it(tmp_path: Path, daemon) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / "inbox").mkdir(parents=True)
    (inp / KEY).write_bytes(scanned_pdf(2))
    d = daemon(str(inp), str(out))
    wait_until(lambda: d.count("document.convert.start", key=KEY) == 1, 120, d)
    second = text_pdf(SECOND)
    tmp = inp / "inbox" / ".report.pdf.tmp"  # written aside, then renamed in: how tools save files
    tmp.write_bytes(second)
    os.replace(tmp, inp / KEY)
    new_etag = f"{(inp / KEY).stat().st_ino:x}"

    def second_converted() -> bool:
        m = manifest(out, KEY)
        return bool(m) and m["source"]["etag"].startswith(new_etag + "-") and m["status"] == "succeeded"

    wait_until(second_converted, 150, d)
    wait_until(lambda: not (inp / KEY).exists(), 60, d)
    assert (inp / "done" / KEY).read_bytes() == second
    assert SECOND in (out / KEY / "report.md").read_text()
    assert d.count("document.convert.start", key=KEY) == 2
    assert d.count("input.move_skipped", key=KEY) == 1
    assert d.count("input.moved", key=KEY) == 1
