"""The real daemon (``python -m watcher.cli run``) as subprocesses against moto's S3 server.

Engine invocations are counted from the daemons' JSON logs (``document.convert.start``,
one per conversion started) and cross-checked with the manifests' ``attempts``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pymupdf
import pytest

from watcher.claims import Claims
from watcher.layout import STATE_PREFIX, manifest_key
from watcher.manifest import Manifest, Status
from watcher.settings import S3Settings
from watcher.storage.s3 import S3Storage

try:
    from tests.fault_proxy import FaultProxy, FaultRates
    from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from fault_proxy import FaultProxy, FaultRates  # type: ignore[no-redef]
    from s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # type: ignore[no-redef] # noqa: F401

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
CONVERT_START = "document.convert.start"


def text_pdf(text: str, pages: int = 1) -> bytes:
    doc = pymupdf.open()
    for n in range(pages):
        doc.new_page().insert_text((72, 72), f"{text} (page {n + 1})", fontsize=12)
    return doc.tobytes()


def slow_pdf(pages: int = 12) -> bytes:
    """Image-only pages: every page needs OCR (about a second each), so a kill lands mid-document."""
    try:
        from tests.docs import make_scanned_pdf
    except ImportError:
        from docs import make_scanned_pdf  # type: ignore[no-redef]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "scan.pdf"
        make_scanned_pdf(one, text="A slow scanned page with words to recognise. " * 12)
        src, out = pymupdf.open(one), pymupdf.open()
        for _ in range(pages):
            out.insert_pdf(src)
        return out.tobytes()


class Daemon:
    """One ``docwatch run`` process in its own process group, logging JSON to a file."""

    def __init__(self, endpoint: str, bucket: str, log: Path, worker: str, **env: str) -> None:
        self.log, self.worker = log, worker
        self._child_groups: set[int] = set()
        environ = {
            **os.environ,
            "DOCWATCH_S3__ENDPOINT_URL": endpoint,
            "DOCWATCH_S3__ADDRESSING_STYLE": "path",
            "DOCWATCH_POLL_INTERVAL": "1",
            "DOCWATCH_LEASE_SECONDS": "10",
            "DOCWATCH_WORKER_ID": worker,
            "DOCWATCH_HEALTH_PORT": "0",
            "DOCWATCH_ENGINE": "cpu",
            "DOCWATCH_LOG_FORMAT": "json",
            "DOCWATCH_SHUTDOWN_GRACE_SECONDS": "2",
            **env,
        }
        cmd = [sys.executable, "-m", "watcher.cli", "run", "--input", f"s3://{bucket}/in/",
               "--output", f"s3://{bucket}/out/"]  # fmt: skip
        # A file, not a pipe: the engine child must never block on a full pipe.
        with log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=environ, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip

    def events(self, name: str | None = None) -> list[dict]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found

    def kill9(self) -> None:
        """SIGKILL the daemon alone (its engine child is left to notice), like an OOM kill."""
        self._note_children()
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        self._note_children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        # Whatever is left: our group, and the engine child's own group (it has one, so a
        # daemon killed with -9 leaves it, and its page workers, behind).
        for group in {self.proc.pid, *self._child_groups}:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _note_children(self) -> None:
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return
        for pid in children:
            try:
                self._child_groups.add(os.getpgid(int(pid)))
            except ProcessLookupError:
                pass


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(endpoint: str, bucket: str, worker: str, **env: str) -> Daemon:
        d = Daemon(endpoint, bucket, tmp_path / f"{worker}.log", worker, **env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def storage(endpoint: str, bucket: str, prefix: str) -> S3Storage:
    return S3Storage.from_uri(f"s3://{bucket}/{prefix}", S3Settings(endpoint_url=endpoint, addressing_style="path"))


def manifest(out: S3Storage, key: str) -> Manifest | None:
    found = Claims(out, "test", 60, 3).read(key)
    return found[0] if found else None


def wait_for(what: Callable[[], bool], timeout: float, alive: list[Daemon] = ()) -> None:  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        for d in alive:
            assert d.proc.poll() is None, f"{d.worker} exited {d.proc.returncode}:\n{d.log.read_text()[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s")


def all_succeeded(out: S3Storage, keys: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        return all((m := manifest(out, k)) is not None and m.status is Status.SUCCEEDED for k in keys)

    return check


def convert_starts(ds: list[Daemon]) -> Counter[str]:
    return Counter(e["key"] for d in ds for e in d.events(CONVERT_START))


def assert_exactly_once(out: S3Storage, keys: list[str], ds: list[Daemon]) -> None:
    starts = convert_starts(ds)
    assert {k: n for k, n in starts.items() if n != 1} == {}, "a document was converted more than once"
    assert set(starts) == set(keys)
    for key in keys:
        m = manifest(out, key)
        assert m is not None and m.status is Status.SUCCEEDED and m.attempts == 1, (key, m)
        stem = PurePosixPath(key).stem
        assert {o.key for o in m.outputs} >= {f"{key}/{stem}.md", f"{key}/{stem}.json"}
        for o in m.outputs:  # every output recorded in the manifest exists, whole
            info = out.head(o.key)
            assert info is not None and info.size == o.bytes, o


# -- tests ----------------------------------------------------------------------------------
def test_two_daemons_each_document_exactly_once(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    keys = [f"batch/doc-{i:02d}.pdf" for i in range(32)]
    for key in keys[:16]:  # half before the daemons start, half while they run
        inp.put(key, text_pdf(f"Document {key}"), content_type="application/pdf")
    ds = [daemons(moto_s3.url, s3_bucket, f"w{n}") for n in range(3)]
    for key in keys[16:]:
        inp.put(key, text_pdf(f"Document {key}"), content_type="application/pdf")
    wait_for(all_succeeded(out, keys), 300, ds)
    time.sleep(2)  # a duplicate, if any, would have started by now
    assert_exactly_once(out, keys, ds)
    print("conversions per daemon:", {d.worker: len(d.events(CONVERT_START)) for d in ds})


def test_kill9_mid_document_then_another_daemon_finishes(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    key = "slow/scanned 12 pages.pdf"
    inp.put(key, slow_pdf(12), content_type="application/pdf")
    a = daemons(moto_s3.url, s3_bucket, "doomed", DOCWATCH_LEASE_SECONDS="5")
    wait_for(lambda: bool(a.events(CONVERT_START)), 120, [a])
    time.sleep(1)  # into the OCR of the first pages (12 pages take ~15 s on 2 cores)
    a.kill9()
    killed_at = time.time()
    m = manifest(out, key)
    assert m is not None and m.status is Status.PROCESSING and m.worker_id == "doomed"
    assert not a.events("document.published")
    assert m.lease is not None
    expires = m.lease.expires_at.timestamp()

    b = daemons(moto_s3.url, s3_bucket, "heir", DOCWATCH_LEASE_SECONDS="5")
    wait_for(all_succeeded(out, [key]), 240, [b])
    m = manifest(out, key)
    assert m is not None and m.worker_id == "heir" and m.attempts == 2  # the killed attempt counts
    claimed = b.events("document.claimed")
    assert len(claimed) == 1 and len(b.events(CONVERT_START)) == 1
    took_over = iso_time(claimed[0]["timestamp"])
    assert took_over >= expires - 0.5, "the heir claimed before the dead worker's lease expired"
    assert took_over >= killed_at
    assert [e["key"] for e in a.events("document.succeeded") + b.events("document.succeeded")] == [key]
    assert m.pages.total == 12 and out.head(f"{key}/scanned 12 pages.md") is not None


def test_whole_run_through_faulty_s3(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    rates = FaultRates(error500=0.02, slowdown=0.03, reset_before=0.02, reset_after=0.02, truncate=0.02, slow=0.02,
                       slow_seconds=0.3)  # fmt: skip
    proxy = FaultProxy(moto_s3.url, rates, seed=7).start()
    try:
        inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
        keys = [f"faulty/doc {i:02d}.pdf" for i in range(20)]
        for key in keys:
            inp.put(key, text_pdf(f"Through faults {key}"))
        ds = [daemons(proxy.url, s3_bucket, f"f{n}", DOCWATCH_S3__RETRY_MODE="standard") for n in range(2)]
        wait_for(all_succeeded(out, keys), 300, ds)
        time.sleep(2)
        assert_exactly_once(out, keys, ds)
        assert sum(proxy.stats.faults.values()) >= 10, proxy.stats.faults
        listed = [i.key for i in out.list() if not i.key.startswith(STATE_PREFIX)]
        assert len(listed) == len(set(listed)) == 3 * len(keys)  # md, json, manifest each
        print("faults injected:", dict(proxy.stats.faults), "requests:", dict(proxy.stats.requests))
    finally:
        proxy.stop()


def test_changed_object_reprocessed_deleted_object_harmless(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("a.pdf", text_pdf("first version"))
    inp.put("b.pdf", text_pdf("to be deleted"))
    d = daemons(moto_s3.url, s3_bucket, "w")
    wait_for(all_succeeded(out, ["a.pdf", "b.pdf"]), 120, [d])
    first = manifest(out, "a.pdf")
    assert first is not None

    new_etag = inp.put("a.pdf", text_pdf("second version, different words", pages=2))
    inp.delete("b.pdf")
    wait_for(lambda: (m := manifest(out, "a.pdf")) is not None and m.source.etag == new_etag
             and m.status is Status.SUCCEEDED, 120, [d])  # fmt: skip
    m = manifest(out, "a.pdf")
    assert m is not None and m.pages.total == 2 and m.attempts == 1 and m.source.sha256 != first.source.sha256
    assert "second version" in out.get("a.pdf/a.md")[0].decode()

    inp.put("c.pdf", text_pdf("after the delete"))  # the daemon is still alive and working
    wait_for(all_succeeded(out, ["c.pdf"]), 120, [d])
    assert convert_starts([d]) == Counter({"a.pdf": 2, "b.pdf": 1, "c.pdf": 1})
    b = manifest(out, "b.pdf")  # the deleted input's result stays as it was
    assert b is not None and b.status is Status.SUCCEEDED
    assert not d.events("document.error") and not d.events("poll.failed")


WEIRD = [
    "with spaces/my report (final) v2.pdf",
    "кириллица/Годовой отчёт 2024.pdf",
    "a/../b/./c.pdf",
    "../outside.pdf",
    "/".join(["l" * 150] * 4) + "/" + "n" * 140 + ".pdf",  # ~750 bytes; its outputs stay < 1024
]


def test_weird_keys_get_correct_output_keys(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    for i, key in enumerate(WEIRD):
        inp.put(key, text_pdf(f"weird key number {i}"))
    # default filters: '.' and '..' segments are not hidden folders, so these keys are processed
    d = daemons(moto_s3.url, s3_bucket, "w")
    wait_for(all_succeeded(out, WEIRD), 180, [d])
    for i, key in enumerate(WEIRD):
        stem = PurePosixPath(key).stem
        assert out.head(manifest_key(key)) is not None
        assert f"weird key number {i}" in out.get(f"{key}/{stem}.md")[0].decode()
    whole = storage(moto_s3.url, s3_bucket, "")
    assert {k.key.split("/", 1)[0] for k in whole.list()} == {"in", "out"}  # nothing escaped
    assert_exactly_once(out, WEIRD, [d])
    d.stop()

    inp.put(".hidden/skipped.pdf", text_pdf("skipped"))
    plain = daemons(moto_s3.url, s3_bucket, "plain")
    inp.put("after.pdf", text_pdf("after"))
    wait_for(all_succeeded(out, ["after.pdf"]), 120, [plain])
    assert manifest(out, ".hidden/skipped.pdf") is None  # hidden folders are skipped


def iso_time(stamp: str) -> float:
    """structlog's ISO timestamp ('...Z') as epoch seconds."""
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_key_whose_outputs_cannot_exist_does_not_stop_the_daemon(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("/".join(["q" * 200] * 5) + ".pdf", text_pdf("long"))  # 1008 bytes: its manifest key is > 1024
    d = daemons(moto_s3.url, s3_bucket, "w")
    wait_for(lambda: bool(d.events("index.loaded")), 120, [d])
    time.sleep(3)
    inp.put("later.pdf", text_pdf("later"))
    wait_for(all_succeeded(out, ["later.pdf"]), 120, [d])
    faults = d.events("document.storage_fault")  # said, not fatal (Daemon.process_safely)
    assert faults and all(e["key"].startswith("qqq") for e in faults)
    assert "1024" in faults[0]["error"]


def test_one_failed_lease_renewal_does_not_hand_the_document_over(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    """A StorageError from a renewal once ended the lease thread (Claim.renew raised); the
    lease then lapsed mid-document and another replica converted it again."""
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    key = "slow/renewal.pdf"
    inp.put(key, slow_pdf(12))
    proxy = FaultProxy(moto_s3.url).start()
    try:
        # botocore's max_attempts counts retries: 1 retry, so two 500s in a row reach the daemon.
        a = daemons(proxy.url, s3_bucket, "renewer", DOCWATCH_LEASE_SECONDS="5", DOCWATCH_S3__MAX_ATTEMPTS="1")
        wait_for(lambda: bool(a.events(CONVERT_START)), 120, [a])
        proxy.script.extend(["error500", "error500"])  # a's next request is its first lease renewal
        b = daemons(moto_s3.url, s3_bucket, "other", DOCWATCH_LEASE_SECONDS="5")
        wait_for(all_succeeded(out, [key]), 240, [b])
        time.sleep(2)
        assert proxy.stats.faults["error500"] == 2
        assert convert_starts([a, b]) == Counter({key: 1}), "the document was converted twice"
    finally:
        proxy.stop()


def test_a_store_without_conditional_writes_is_refused_unless_single_replica(
    moto_s3: MotoS3, s3_bucket: str, daemons
) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("one.pdf", text_pdf("only one replica"))
    proxy = FaultProxy(moto_s3.url).start()
    proxy.strip_headers = {"if-none-match", "if-match"}  # a store that ignores them
    try:
        refused = daemons(proxy.url, s3_bucket, "refused")
        assert refused.proc.wait(60) == 2
        [event] = refused.events("startup.failed")
        assert "conditional writes" in event["error"] and "DOCWATCH_SINGLE_REPLICA=true" in event["error"]
        assert manifest(out, "one.pdf") is None  # it claimed nothing
        secret = "wJalrXUtnFEMI-not-a-real-key-0123456789"
        single = daemons(proxy.url, s3_bucket, "single", DOCWATCH_SINGLE_REPLICA="true",
                         DOCWATCH_S3__ACCESS_KEY_ID="testing", DOCWATCH_S3__SECRET_ACCESS_KEY=secret)
        wait_for(all_succeeded(out, ["one.pdf"]), 120, [single])
        # keys given to docwatch itself are used (moto accepts any) but never written anywhere
        assert secret not in single.log.read_text()
        assert secret not in out.get("one.pdf/manifest.json")[0].decode()
    finally:
        proxy.stop()
