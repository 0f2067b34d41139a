"""The daemon in-process with a stand-in engine: stage retries and failure records, fast."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from processor import convert
from processor.errors import EngineFailure, EngineUnavailable
from processor.options import ConvertOptions, CpuEngineOptions
from watcher.daemon import Daemon
from watcher.metrics import Metrics
from watcher.settings import Settings
from processor.document import EngineInfo
from watcher.status import manifests
from watcher.storage import LocalStorage, StorageError
from tests.docs import make_text_pdf


class InProcessEngine:
    """EngineHost's interface, converting in this process (no child, for speed)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls = 0
        self.fail = fail
        self.ready, self.down_since = threading.Event(), None  # always loaded, never down
        self.ready.set()
        self.info = EngineInfo(name="in-process", version="1")

    def revive_if_due(self) -> None:
        pass

    def convert(self, spooled: Path, name: str, *, skip=(), on_page=lambda r: None, on_opened=lambda n: None,
                **_: object):
        self.calls += 1
        if self.fail:
            raise self.fail
        options = ConvertOptions(cpu=CpuEngineOptions(page_workers=1))
        doc = convert(spooled, options, name=name, skip=skip, progress=lambda r, n: on_page(r), opened=on_opened)
        return doc.model_copy(update={"pages": [], "assets": []})  # pages went to on_page, as from the child


class FlakyStorage(LocalStorage):
    """Fails the first ``n`` writes of Markdown outputs, as a passing S3 fault would."""

    def __init__(self, root: Path, n: int) -> None:
        super().__init__(root, create=True)
        self.left = n

    def _replace(self, path: Path, content, **kw) -> str:  # every write of any kind ends here
        if path.name.endswith(".md") and self.left > 0:
            self.left -= 1
            raise StorageError("503 SlowDown (injected)")
        return super()._replace(path, content, **kw)


def daemon(tmp_path: Path, sink: LocalStorage, engine: InProcessEngine, **settings: object) -> Daemon:
    source = LocalStorage(tmp_path / "in")
    s = Settings(input=str(source.root), output=str(sink.root), retry_backoff_seconds=0, **settings)
    return Daemon(s, source, sink, engine, Metrics())  # type: ignore[arg-type]


def test_a_passing_publish_fault_is_retried_in_place_without_converting_again(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Published on the third try."])
    sink, engine = FlakyStorage(tmp_path / "out", n=2), InProcessEngine()
    d = daemon(tmp_path, sink, engine)
    assert d.process(d.source.head("a.pdf")) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "succeeded" and m.attempts == 1 and engine.calls == 1
    assert "Published on the third try." in (tmp_path / "out/a.pdf/a.md").read_text()
    assert d.metrics.retries.labels("stage")._value.get() == 2


def test_a_lasting_storage_fault_fails_the_attempt_as_retryable(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Never published."])
    sink = FlakyStorage(tmp_path / "out", n=10)
    d = daemon(tmp_path, sink, InProcessEngine(), max_attempts=2)
    d.process(d.source.head("a.pdf"))
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "failed" and m.error.retryable and m.next_attempt_at is not None
    assert "SlowDown" in m.error.message


def test_engine_failure_is_recorded_and_retried_until_the_limit(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["x"])
    sink, engine = LocalStorage(tmp_path / "out", create=True), InProcessEngine(fail=EngineFailure("GPU fell off"))
    d = daemon(tmp_path, sink, engine, max_attempts=2)
    item = d.source.head("a.pdf")
    assert d.process(item) and d.process(item)
    assert d.process(item) is False  # failed for good: not claimed a third time
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "failed" and m.attempts == 2 and m.next_attempt_at is None and engine.calls == 2
    assert m.error.type == "EngineFailure" and m.error.message == "GPU fell off"


class ClaimlessStorage(LocalStorage):
    """Its first ``n`` manifest creations fail, as during a short output-store outage."""

    def __init__(self, root: Path, n: int) -> None:
        super().__init__(root, create=True)
        self.left = n

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None, **kw) -> str:
        if key.endswith("manifest.json") and self.left > 0:
            self.left -= 1
            raise StorageError("503 ServiceUnavailable (injected)")
        return super().put_if_absent(key, data, content_type, **kw)


def test_a_version_that_met_storage_faults_is_deferred_then_tried_again(tmp_path: Path, monkeypatch) -> None:
    """It was once set aside in memory after three faults: no manifest, never retried until a
    restart. Now each fault defers it by a doubling back-off, and it is tried for good."""
    import watcher.daemon as daemon_module

    monkeypatch.setattr(daemon_module, "_FAULT_BACKOFF", 0.1)
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Converted after the outage."])
    sink = ClaimlessStorage(tmp_path / "out", n=5)
    d = daemon(tmp_path, sink, InProcessEngine())
    seen = 0
    for _ in range(150):  # back-offs 0.1 + 0.2 + ... + 1.6 s
        items = d.discover()
        seen += len(items)
        for item in items:
            d.process_safely(item)
        if list(manifests(sink)):
            break
        time.sleep(0.1)
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "succeeded" and sink.left == 0 and seen == 6
    assert d.metrics.retries.labels("storage_fault")._value.get() == 5


def test_stopping_during_a_stage_back_off_releases_the_document(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Never published."])
    sink = FlakyStorage(tmp_path / "out", n=10)
    d = daemon(tmp_path, sink, InProcessEngine())
    threading.Timer(0.5, d.stop).start()  # SIGTERM while publish waits out its back-off
    d.process(d.source.head("a.pdf"))
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "queued" and m.attempts == 0 and m.error is None


def test_an_unavailable_engine_releases_the_document_without_counting_an_attempt(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["x"])
    sink = LocalStorage(tmp_path / "out", create=True)
    d = daemon(tmp_path, sink, InProcessEngine(fail=EngineUnavailable("the engine is down")))
    d.process(d.source.head("a.pdf"))
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "queued" and m.attempts == 0 and m.error is None


class ForgetfulStorage(LocalStorage):
    """Loses checkpointed figures (as a store could between a write and its read-back)."""

    def put(self, key: str, data: bytes, content_type: str | None = None, **kw) -> str:
        if "/pages/" in key and "/images/" in key:
            return "lost"
        return super().put(key, data, content_type, **kw)


def test_a_figure_missing_at_publish_is_a_retryable_fault_not_a_vanished_input(tmp_path: Path) -> None:
    from tests.docs import make_figure_pdf

    import pymupdf

    (tmp_path / "in").mkdir()
    one = make_figure_pdf(tmp_path / "one.pdf")
    two = pymupdf.open()  # two pages: a one-page document is published without checkpoints
    for _ in range(2):
        two.insert_pdf(pymupdf.open(one.path))
    two.save(tmp_path / "in" / "a.pdf")
    sink = ForgetfulStorage(tmp_path / "out", create=True)
    d = daemon(tmp_path, sink, InProcessEngine(), max_attempts=2)
    d.process(d.source.head("a.pdf"))
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "failed" and m.error.retryable and "disappeared" not in m.error.message


class ListingStorage(LocalStorage):
    """Remembers every prefix listed."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        super().__init__(root, create=create)
        self.prefixes: list[str] = []

    @property
    def listings(self) -> int:
        return len(self.prefixes)

    def list(self, prefix: str = ""):
        self.prefixes.append(prefix)
        return super().list(prefix)


def running(d: Daemon) -> threading.Thread:
    t = threading.Thread(target=d.run, daemon=True)
    t.start()
    return t


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_document_another_worker_holds_is_looked_at_once_per_poll_not_in_a_loop(tmp_path: Path) -> None:
    """A claim skipped as busy counted as work started, and work started meant "look again at
    once": the daemon listed the input and read the manifest as fast as it could for as long as
    another replica held the document."""
    from watcher.claims import Claims

    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Held by another replica."])
    source, sink = ListingStorage(tmp_path / "in"), LocalStorage(tmp_path / "out", create=True)
    other = Claims(sink, "replica-b", lease_seconds=3600, max_attempts=3).try_claim(source.head("a.pdf"), "in/a.pdf")
    assert not isinstance(other, str)  # replica-b holds it for an hour
    s = Settings(input=str(source.root), output=str(sink.root), poll_interval=3600, settle_seconds=0)
    d = Daemon(s, source, sink, InProcessEngine(), Metrics())  # type: ignore[arg-type]
    t = running(d)
    time.sleep(1.5)
    d.stop()
    t.join(10)
    assert source.listings <= 2 and d.metrics.skips.labels("busy")._value.get() <= 2


def test_a_finished_document_is_no_reason_to_list_the_input_again(tmp_path: Path) -> None:
    """Each document that ended woke the loop for a listing: with 32 documents in flight, a
    listing per finished document on the tail of every batch, for nothing new."""
    (tmp_path / "in").mkdir()
    for name in "abc":
        make_text_pdf(tmp_path / "in" / f"{name}.pdf", [f"Document {name}."])
    source, sink = ListingStorage(tmp_path / "in"), LocalStorage(tmp_path / "out", create=True)
    s = Settings(input=str(source.root), output=str(sink.root), poll_interval=3600, settle_seconds=0, concurrency=2)
    d = Daemon(s, source, sink, InProcessEngine(), Metrics())  # type: ignore[arg-type]
    t = running(d)
    wait_for(lambda: sum(m.status.value == "succeeded" for _, m, _ in manifests(sink)) == 3)
    time.sleep(0.5)  # a wake after the last one would list now
    d.stop()
    t.join(10)
    # the first look, and one more after waiting for a free slot for the third document
    assert source.listings == 2


def test_only_outputs_and_the_final_manifest_are_forced_to_disk(tmp_path: Path, monkeypatch) -> None:
    """fsync costs milliseconds a file, on the tail of every document. It is owed where a power
    cut could leave a manifest naming outputs that never reached the disk; a claim, a lease
    renewal or a done marker lost that way costs at most one more conversion."""
    import os

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name.split(".")[1])  # .<name>.<random>.tmp
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Durable where it matters."])
    sink = LocalStorage(tmp_path / "out", create=True)
    d = daemon(tmp_path, sink, InProcessEngine())
    assert d.process(d.source.head("a.pdf")) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "succeeded"
    assert sorted(synced) == ["a", "a", "manifest"]  # a.md, a.json; the manifest once (the final one)


class StopsAfterOnePage(InProcessEngine):
    """Converts one page, then goes down (as an engine restart would cut a document off)."""

    def convert(self, spooled: Path, name: str, *, skip=(), on_page=lambda r: None, **kw: object):
        self.skipped, first = set(skip), self.calls == 0

        def page(result) -> None:
            on_page(result)
            if first:
                raise EngineUnavailable("the engine restarted")

        return super().convert(spooled, name, skip=skip, on_page=page, **kw)


def test_checkpoints_are_looked_for_only_where_an_earlier_attempt_may_have_left_some(tmp_path: Path) -> None:
    """Looking for a document's checkpoints is a listing, one round trip on the path between
    fetch and the engine. A manifest this claim created means no attempt came before, so no
    checkpoint of it can exist; a document an earlier attempt worked on is looked for, and
    resumed."""
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Page one.", "Page two."])
    sink, engine = ListingStorage(tmp_path / "out", create=True), StopsAfterOnePage()
    d = daemon(tmp_path, sink, engine)
    item = d.source.head("a.pdf")
    assert d.process(item) is True  # released after one page, its checkpoint kept
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "queued"
    assert not [p for p in sink.prefixes if "/pages/" in p]  # the first attempt had nothing to resume
    assert d.process(item) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "succeeded" and m.pages.done == 2
    assert engine.skipped == {1}  # the second attempt converted only the page with no checkpoint


class WatchedSource(LocalStorage):
    """Counts downloads, and tells when one starts."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.downloads, self.started = 0, threading.Event()

    def download(self, key: str, dest: Path, **kw) -> None:
        self.downloads += 1
        self.started.set()
        super().download(key, dest, **kw)


class ClaimWaitsForFetch(LocalStorage):
    """A manifest's creation that waits (up to 5 s) for the input's download to start."""

    def __init__(self, root: Path, source: WatchedSource) -> None:
        super().__init__(root, create=True)
        self.source, self.fetch_had_started = source, None

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None, **kw) -> str:
        if key.endswith("manifest.json") and self.fetch_had_started is None:
            self.fetch_had_started = self.source.started.wait(5)
        return super().put_if_absent(key, data, content_type, **kw)


def test_a_new_small_input_is_fetched_while_its_claim_is_written(tmp_path: Path) -> None:
    """Claim, then fetch, was two round trips to the store before the engine saw a page. The
    claim is a conditional write that a new document almost always wins, so a small input is
    fetched alongside it."""
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Fetched while claimed."])
    source = WatchedSource(tmp_path / "in")
    sink = ClaimWaitsForFetch(tmp_path / "out", source)
    s = Settings(input=str(source.root), output=str(sink.root))
    d = Daemon(s, source, sink, InProcessEngine(), Metrics())  # type: ignore[arg-type]
    assert d.process(source.head("a.pdf")) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "succeeded" and sink.fetch_had_started is True and source.downloads == 1


def test_a_document_another_worker_holds_is_fetched_at_most_once_and_never_converted(tmp_path: Path) -> None:
    """The input fetched alongside a claim that loses is thrown away; once the worker knows the
    key is held, it no longer fetches it before claiming."""
    from watcher.claims import Claims

    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Held by another replica."])
    source, sink, engine = WatchedSource(tmp_path / "in"), LocalStorage(tmp_path / "out", create=True), InProcessEngine()
    Claims(sink, "replica-b", lease_seconds=3600, max_attempts=3).try_claim(source.head("a.pdf"), "in/a.pdf")
    d = Daemon(Settings(input=str(source.root), output=str(sink.root)), source, sink, engine, Metrics())  # type: ignore[arg-type]
    assert d.process(source.head("a.pdf")) is False
    assert d.process(source.head("a.pdf")) is False
    [(_, m, _)] = list(manifests(sink))
    assert m.worker_id == "replica-b" and engine.calls == 0 and source.downloads <= 1
