"""S3 edge cases, run as deployed: real daemon subprocesses, moto's server over HTTP, and the
fault proxy between them where the store must misbehave.

- a store that ignores If-Match (but honours If-None-Match) is refused at start;
- ``DOCWATCH_ON_SUCCESS=move`` never moves away a newer upload that arrived mid-conversion;
- an aborted multipart upload is a storage fault (retried), not a lost input;
- keys that differ only in '.', '..' or empty segments get their own folders in a local output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from watcher.claims import Claims
from watcher.manifest import Manifest, Status
from watcher.settings import S3Settings
from watcher.storage.s3 import S3Storage

try:
    from tests.daemon_harness import REPO, DaemonProc, start_daemon
    from tests.fault_proxy import FaultProxy
    from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from daemon_harness import REPO, DaemonProc, start_daemon  # type: ignore[no-redef]
    from fault_proxy import FaultProxy  # type: ignore[no-redef]
    from s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # type: ignore[no-redef] # noqa: F401

pytestmark = pytest.mark.slow


def storage(endpoint: str, bucket: str, prefix: str) -> S3Storage:
    return S3Storage.from_uri(f"s3://{bucket}/{prefix}", S3Settings(endpoint_url=endpoint, addressing_style="path"))


def s3_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {"DOCWATCH_S3__ENDPOINT_URL": endpoint, "DOCWATCH_S3__ADDRESSING_STYLE": "path", **extra}


def s3_manifest(out: S3Storage, key: str) -> Manifest | None:
    found = Claims(out, "test", 60, 3).read(key)
    return found[0] if found else None


def text_pdf(text: str, pages: int = 1) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    for n in range(pages):
        doc.new_page().insert_text((72, 72), f"{text} (page {n + 1})", fontsize=12)
    return doc.tobytes()


def wait_until(what: Callable[[], object], timeout: float, alive: list[DaemonProc] = ()) -> None:  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        for d in alive:
            assert d.proc.poll() is None, f"daemon exited {d.proc.returncode}:\n{d.log_path.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s")


@pytest.fixture
def started(tmp_path: Path):
    procs: list[DaemonProc] = []

    def start(inp: str, out: str, name: str, **env: str) -> DaemonProc:
        d = start_daemon(tmp_path, inp, out, name=name, health=False, extra_env=env)
        procs.append(d)
        return d

    yield start
    for d in procs:
        try:
            d.stop(timeout=30)
        except subprocess.TimeoutExpired:
            d.proc.kill()


# -- 1. a store that ignores If-Match ---------------------------------------------------------
def test_a_store_ignoring_if_match_is_refused_and_doctor_says_so(moto_s3: MotoS3, s3_bucket: str, started) -> None:
    """If-None-Match alone passed the probe; takeovers and renewals (If-Match) then
    overwrote each other. The proxy forwards If-None-Match but drops If-Match."""
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("one.pdf", text_pdf("one replica only"))
    proxy = FaultProxy(moto_s3.url).start()
    proxy.strip_headers = {"if-match"}
    uris = (f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/out/")
    try:
        refused = started(*uris, "refused", **s3_env(proxy.url))
        assert refused.wait_exit(60) == 2
        [event] = [e for e in refused.events() if e.get("event") == "startup.failed"]
        assert "If-Match" in event["error"] and "DOCWATCH_SINGLE_REPLICA=true" in event["error"], event
        assert s3_manifest(out, "one.pdf") is None  # it claimed nothing

        doctor = subprocess.run(
            [sys.executable, "-m", "watcher", "doctor", "--input", uris[0], "--output", uris[1]],
            capture_output=True, text=True, timeout=120, cwd=REPO, env={**refused.env, **s3_env(proxy.url)},
        )  # fmt: skip
        assert doctor.returncode == 1, doctor.stdout + doctor.stderr
        [line] = [ln for ln in doctor.stdout.splitlines() if ln.startswith(f"[FAIL] output {uris[1]}")]
        assert "If-Match" in line and "DOCWATCH_SINGLE_REPLICA=true" in line, line

        single = started(*uris, "single", **s3_env(proxy.url, DOCWATCH_SINGLE_REPLICA="true"))
        wait_until(lambda: (m := s3_manifest(out, "one.pdf")) and m.status is Status.SUCCEEDED, 120, [single])
    finally:
        proxy.stop()


# -- 3. an aborted multipart upload during publish ---------------------------------------------
def noise_figure_pdf() -> bytes:
    """A page whose figure crop is a ~7 MB PNG (noise does not compress): published as a
    multipart upload once the threshold is 5 MB; and a second page of text, since a one-page
    document is published without page checkpoints."""
    import io

    import numpy as np
    import pymupdf
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (1000, 720, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 60), "A page with a large photograph of noise below this line.", fontsize=11)
    page.insert_image(pymupdf.Rect(60, 80, 540, 780), stream=buf.getvalue())
    doc.new_page().insert_text((72, 60), "The second page has text only.", fontsize=11)
    return doc.tobytes()


def test_an_aborted_multipart_upload_is_a_storage_fault_not_a_missing_object(moto_s3: MotoS3, s3_bucket: str) -> None:
    """NoSuchUpload is a 404 and came out as NotFound, which the daemon read as 'the input
    disappeared' (final). It is a fault of the write: StorageError, and the next try works."""
    from watcher.storage import NotFound, StorageError

    proxy = FaultProxy(moto_s3.url).start()
    proxy.abort_uploads = 1
    try:
        out = S3Storage.from_uri(f"s3://{s3_bucket}/out/", S3Settings(
            endpoint_url=proxy.url, addressing_style="path", multipart_threshold_mb=5))  # fmt: skip
        body = bytes(range(256)) * (6 * 4096)  # 6 MiB: two parts
        with pytest.raises(StorageError, match="NoSuchUpload") as raised:
            out.put("big.bin", body)
        assert not isinstance(raised.value, NotFound)
        assert proxy.stats.faults["abort_upload"] == 1
        out.put("big.bin", body)
        assert out.get("big.bin")[0] == body
    finally:
        proxy.stop()


def test_the_daemon_rides_out_an_aborted_multipart_upload(moto_s3: MotoS3, s3_bucket: str, started) -> None:
    """Where the daemon still writes multipart (a page checkpoint's 7 MB figure; outputs are
    single conditional PUTs): the abort is reported as the storage fault it is, and the
    document succeeds in its first attempt."""
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    key = "photos/noise.pdf"
    inp.put(key, noise_figure_pdf())
    proxy = FaultProxy(moto_s3.url).start()
    proxy.abort_uploads = 1
    try:
        d = started(f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/out/", "publisher",
                    **s3_env(proxy.url, DOCWATCH_S3__MULTIPART_THRESHOLD_MB="5", DOCWATCH_FIGURE_DPI="200"))
        wait_until(lambda: (m := s3_manifest(out, key)) and m.status is not Status.PROCESSING, 120, [d])
    finally:
        proxy.stop()
    assert proxy.stats.faults["abort_upload"] == 1
    m = s3_manifest(out, key)
    assert m is not None and m.status is Status.SUCCEEDED and m.attempts == 1, m
    faults = [e for e in d.events() if "NoSuchUpload" in json.dumps(e)]
    assert faults and "disappeared" not in d.log_path.read_text(), faults
    [figure] = [o for o in m.outputs if o.key.endswith(".png")]
    assert figure.bytes > 5 * 1024 * 1024 and out.head(figure.key).size == figure.bytes  # type: ignore[union-attr]


# -- 7. S3 keys that one folder path would merge -----------------------------------------------
DOT_KEYS = ["a/./b.pdf", "a//b.pdf", "a/b.pdf", "a/../b.pdf", "a/%2e/b.pdf"]


def test_keys_a_path_would_merge_get_their_own_local_folders(moto_s3: MotoS3, s3_bucket: str, started,
                                                             tmp_path: Path) -> None:  # fmt: skip
    """'a/./b.pdf' and 'a//b.pdf' both landed in out/a/b.pdf/ and reconverted each other
    forever; 'a/../b.pdf' could not be written at all."""
    from watcher.storage import LocalStorage

    inp, out = storage(moto_s3.url, s3_bucket, "in/"), tmp_path / "out"
    for i, key in enumerate(DOT_KEYS):
        inp.put(key, text_pdf(f"document number {i}"))
    d = started(f"s3://{s3_bucket}/in/", str(out), "mapper", **s3_env(moto_s3.url))
    claims = Claims(LocalStorage(out), "test", 60, 3)

    def succeeded(key: str) -> bool:
        found = claims.read(key)
        return found is not None and found[0].status is Status.SUCCEEDED and found[0].source.key == key

    wait_until(lambda: all(succeeded(k) for k in DOT_KEYS), 180, [d])
    time.sleep(3)  # six polls: a loop would have started converting again by now
    starts = [e["key"] for e in d.events() if e.get("event") == "document.convert.start"]
    assert sorted(starts) == sorted(DOT_KEYS), starts
    folders = {p.parent for p in out.rglob("manifest.json")}
    assert len(folders) == len(DOT_KEYS) and all(p.resolve().is_relative_to(out) for p in folders)
    for i, key in enumerate(DOT_KEYS):
        [md] = [o.key for o in claims.read(key)[0].outputs if o.key.endswith(".md")]  # type: ignore[index]
        assert f"document number {i}" in (out / md).read_text(), key

    cli = [sys.executable, "-m", "watcher"]
    status = subprocess.run([*cli, "status", str(out), "--all"], capture_output=True, text=True, cwd=REPO,
                            env=d.env, timeout=60)  # fmt: skip
    assert status.returncode == 0 and f"{len(DOT_KEYS)} documents" in status.stdout, status.stdout + status.stderr
    assert {ln.split("  ")[-1] for ln in status.stdout.splitlines() if ln.startswith("succeeded ")} == set(DOT_KEYS)
    retry = subprocess.run([*cli, "retry", str(out), "a/./b.pdf"], capture_output=True, text=True, cwd=REPO,
                           env=d.env, timeout=60)  # fmt: skip
    assert retry.returncode == 0, retry.stdout + retry.stderr
    wait_until(lambda: starts_of(d, "a/./b.pdf") == 2 and succeeded("a/./b.pdf"), 120, [d])
    assert [starts_of(d, k) for k in DOT_KEYS] == [2, 1, 1, 1, 1]


def starts_of(d: DaemonProc, key: str) -> int:
    return d.count("document.convert.start", key=key)
