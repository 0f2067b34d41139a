"""Claims, settings, discovery filters, loops, status/retry, docs in sync: fast, no engine."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from processor import json_schema
from processor.document import ErrorInfo
from watcher.claims import Claim, Claims, Skip
from watcher.discovery import DoneIndex, Discovery, KeyFilter
from watcher.layout import manifest_key
from watcher.feedback_loop import refuse_feedback_loop
from watcher.manifest import Manifest, Status
from watcher.settings import Settings
from watcher.settings_doc import settings_table
from watcher.status import requeue, status_report
from watcher.storage import LocalStorage, ObjectInfo, StorageError

REPO = Path(__file__).resolve().parent.parent


def obj(key: str = "a.pdf", etag: str = "e1", size: int = 10, age: float = 100) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, modified=datetime.now(UTC) - timedelta(seconds=age))


def test_only_one_of_many_concurrent_claimers_wins(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, create=True)
    results: list[Claim | Skip] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        c = Claims(store, f"w{i}", lease_seconds=30, max_attempts=3)
        barrier.wait()
        results.append(c.try_claim(obj(), "in/a.pdf"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [r for r in results if isinstance(r, Claim)]
    # the others lost the write, or read the winner's fresh lease first
    assert len(winners) == 1 and all(r in (Skip.LOST_RACE, Skip.BUSY) for r in results if not isinstance(r, Claim))
    m = Manifest.from_bytes(store.get(manifest_key("a.pdf"))[0])
    assert m.status is Status.PROCESSING and m.worker_id == winners[0].manifest.worker_id


def test_a_new_document_is_claimed_with_one_write_and_no_read(tmp_path: Path) -> None:
    """The manifest was read before every claim: for a new document a GET answered 404, one
    more round trip on the path of every document to S3. A key whose manifest this worker has
    seen is still read first, so a document another worker holds costs no failed write a poll."""

    class Counting(LocalStorage):
        gets = writes = 0

        def get(self, key: str) -> tuple[bytes, str]:
            self.gets += 1
            return super().get(key)

        def put_if_absent(self, key: str, data: bytes, content_type: str | None = None, **kw) -> str:
            self.writes += 1
            return super().put_if_absent(key, data, content_type, **kw)

    store = Counting(tmp_path, create=True)
    assert isinstance(Claims(store, "w1", lease_seconds=30, max_attempts=3).try_claim(obj(), "u"), Claim)
    assert (store.gets, store.writes) == (0, 1)
    other = Claims(store, "w2", lease_seconds=30, max_attempts=3)
    assert other.try_claim(obj(), "u") is Skip.BUSY  # its create lost: then it reads
    assert other.try_claim(obj(), "u") is Skip.BUSY  # now it reads first
    assert (store.gets, store.writes) == (2, 2)


def test_lease_expiry_hands_the_document_over_and_the_old_holder_loses(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, create=True)
    first = Claims(store, "old", lease_seconds=30, max_attempts=3).try_claim(obj(), "u")
    assert isinstance(first, Claim)
    other = Claims(store, "new", lease_seconds=30, max_attempts=3)
    assert other.try_claim(obj(), "u") is Skip.BUSY
    # the old holder stops renewing: its lease runs out
    expired = first.manifest.model_copy(deep=True)
    expired.lease.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    store.put(first.key, expired.to_bytes())
    second = other.try_claim(obj(), "u")
    assert isinstance(second, Claim) and second.manifest.attempts == 2 and second.manifest.lapses == 1
    assert first.renew() is False and first.lost  # a lost lease is noticed, never overwritten
    assert Manifest.from_bytes(store.get(first.key)[0]).worker_id == "new"


def test_lapses_are_counted_apart_and_end_a_document_only_at_max_lapses(tmp_path: Path) -> None:
    """A lapsed lease (worker killed or cut off) is not a failure of the document: max_attempts
    does not end it; max_lapses does, as WorkerLost."""
    store = LocalStorage(tmp_path, create=True)

    def lapse(claim: Claim) -> None:
        expired = claim.manifest.model_copy(deep=True)
        expired.lease.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        store.put(claim.key, expired.to_bytes())

    claims = [Claims(store, f"w{i}", lease_seconds=30, max_attempts=2, max_lapses=3) for i in range(4)]
    for i in range(3):
        claim = claims[i].try_claim(obj(), "u")
        assert isinstance(claim, Claim) and claim.manifest.lapses == i
        lapse(claim)
    assert claims[3].try_claim(obj(), "u") is Skip.GAVE_UP
    m = Manifest.from_bytes(store.get(manifest_key("a.pdf"))[0])
    assert m.status is Status.FAILED and m.error.type == "WorkerLost" and m.lapses == 3 and m.attempts == 3


def test_claim_decisions_follow_status_version_and_backoff(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, create=True)
    claims = Claims(store, "w", lease_seconds=30, max_attempts=2)
    c = claims.try_claim(obj(), "u")
    assert isinstance(c, Claim)
    c.finish(c.manifest.model_copy(update={"status": Status.SUCCEEDED}))
    assert claims.try_claim(obj(), "u") is Skip.DONE
    c2 = claims.try_claim(obj(etag="e2"), "u")  # a new version is claimed again, attempts reset
    assert isinstance(c2, Claim) and c2.manifest.attempts == 1
    err = ErrorInfo(type="EngineFailure", message="x", retryable=True)
    later = datetime.now(UTC) + timedelta(hours=1)
    c2.finish(c2.manifest.model_copy(update={"status": Status.FAILED, "error": err, "next_attempt_at": later}))
    assert claims.try_claim(obj(etag="e2"), "u") is Skip.WAITING


def test_key_filter_skips_temp_names_state_and_moved_inputs() -> None:
    s = Settings()
    f = KeyFilter(include=s.include, exclude=s.exclude, skip_prefixes=["done/"])
    for ok in ("a.pdf", "dir/Отчёт 1.pdf", "scan.tiff", "x y/z.png", "a/../b.pdf", "../up.pdf", "x/./y.pdf"):
        assert f.wanted(ok), ok
    for skip in ("a.pdf.part", "dir/.a.pdf", "~a.pdf", "dir/~lock.pdf", "x.tmp", "_docwatch/done/x", "done/a.pdf",
                 ".x.pdf.1234.tmp", ".Trash/a.pdf", "a/.sync/b.pdf"):
        assert not f.wanted(skip), skip
    only = KeyFilter(include=["reports/*.pdf"], exclude=["reports/draft*"])
    assert only.wanted("reports/q1.pdf") and not only.wanted("reports/draft1.pdf") and not only.wanted("q1.pdf")


def test_discovery_uses_the_done_index_and_settle_time(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    src, out = LocalStorage(tmp_path / "in"), LocalStorage(tmp_path / "out", create=True)
    (tmp_path / "in" / "old.pdf").write_bytes(b"%PDF-1.4 old")
    import os
    os.utime(tmp_path / "in" / "old.pdf", (1, 1))  # written long ago: settled already
    (tmp_path / "in" / "fresh.pdf").write_bytes(b"%PDF-1.4 fresh")
    done = DoneIndex(out)
    disc = Discovery(src, done, KeyFilter(["*"], []), settle_seconds=30, min_age_seconds=0)
    assert [o.key for o in disc.poll()] == ["old.pdf"] and disc.unsettled == 1
    done.mark(src.head("old.pdf"))
    assert DoneIndex(out).load() == 1  # rebuilt from the output root after a restart
    assert disc.poll() == []


def test_feedback_loops_are_refused(tmp_path: Path) -> None:
    for inp, out in [(tmp_path, tmp_path), (tmp_path, tmp_path / "out"), ("s3://b/in", "s3://b/in/out"),
                     ("s3://b/", "s3://b/out"), ("s3://b/in", "s3://b/in")]:
        with pytest.raises(StorageError, match="inside"):
            refuse_feedback_loop(str(inp), str(out))
    for inp, out in [(tmp_path / "in", tmp_path / "out"), ("s3://b/in", "s3://b/input-results"),
                     ("s3://a/in", "s3://b/in"), ("s3://b/in", str(tmp_path))]:
        refuse_feedback_loop(str(inp), str(out))


def test_settings_from_env_and_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "docwatch.toml"
    cfg.write_text('input = "/data/in"\npoll_interval = 5\n[cpu]\nocr_dpi = 200\n[s3]\nregion = "ru-central-1"\n')
    monkeypatch.setenv("DOCWATCH_CONFIG", str(cfg))
    monkeypatch.setenv("DOCWATCH_POLL_INTERVAL", "2")  # env beats the file
    monkeypatch.setenv("DOCWATCH_PADDLE__VL_REC_BACKEND", "vllm-server")
    s = Settings()
    assert s.input == "/data/in" and s.poll_interval == 2 and s.cpu.ocr_dpi == 200
    assert s.s3.region == "ru-central-1" and s.paddle.vl_rec_backend.value == "vllm-server"
    monkeypatch.setenv("DOCWATCH_S3__SECRET_ACCESS_KEY", "very-secret-value")
    s = Settings()
    assert "very-secret-value" not in repr(s) and "very-secret-value" not in s.model_dump_json()


def test_docs_settings_md_documents_every_setting_and_schema_is_current() -> None:
    table = (REPO / "docs/settings.md").read_text()
    assert settings_table() in table, "run: python -m watcher.settings_doc docs/settings.md"
    assert (REPO / "processor/schema/document.schema.json").read_text() == json_schema(), \
        "run: python -m watcher schema -o processor/schema/document.schema.json"


def test_status_report_and_retry_requeue(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, create=True)
    claims = Claims(store, "w", lease_seconds=30, max_attempts=1)
    for key, status, err in [("ok.pdf", Status.SUCCEEDED, None),
                             ("bad.pdf", Status.FAILED, ErrorInfo(type="CorruptInput", message="broken xref"))]:
        c = claims.try_claim(obj(key), f"in/{key}")
        c.finish(c.manifest.model_copy(update={"status": status, "error": err}))
        DoneIndex(store).mark(obj(key))
    report = status_report(store)
    assert "2 documents" in report and "succeeded   1" in report and "failed      1" in report
    assert "bad.pdf" in report and "broken xref" in report and "CorruptInput" in report
    assert requeue(store, failed=True) == ["bad.pdf"]
    m = json.loads(store.get("bad.pdf/manifest.json")[0])
    assert m["status"] == "queued" and m["attempts"] == 0 and m["error"] is None
    index = DoneIndex(store)
    index.load()
    assert obj("bad.pdf") not in index and obj("ok.pdf") in index
    assert isinstance(Claims(store, "w2", 30, 1).try_claim(obj("bad.pdf"), "u"), Claim)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci/run").read_text()
    assert "    ./scripts/test.sh\n" in readme and "\n./scripts/test.sh\n" in ci


def test_publish_removes_what_an_earlier_version_wrote_and_this_one_did_not(tmp_path: Path) -> None:
    from processor.document import (Asset, BBox, Block, BlockType, Document, EngineInfo, ImageRef, InputFormat,
                                    Page, PageUnit, SourceInfo)
    from watcher.publish import publish, remove_stale

    def doc(figures: int) -> Document:
        blocks = [Block(type=BlockType.FIGURE, bbox=BBox(x0=0, y0=0, x1=1, y1=1), order=i,
                        image=ImageRef(path=f"images/p1_{i}.png", width=1, height=1)) for i in range(figures)]
        src = SourceInfo(name="a.pdf", format=InputFormat.PDF, size=1, sha256="0" * 64, page_count=1)
        return Document(source=src, engine=EngineInfo(name="t", version="1"),
                        pages=[Page(number=1, width=1, height=1, unit=PageUnit.POINT, blocks=blocks)],
                        assets=[Asset(path=f"images/p1_{i}.png", data=b"png") for i in range(figures)])

    store = LocalStorage(tmp_path, create=True)
    first = publish(store, "a.pdf", doc(2))
    assert {o.key for o in first} == {"a.pdf/a.md", "a.pdf/a.json", "a.pdf/images/p1_0.png", "a.pdf/images/p1_1.png"}
    assert "![figure](images/p1_1.png)" in (tmp_path / "a.pdf/a.md").read_text()
    second = publish(store, "a.pdf", doc(1), first)
    assert {o.key for o in second} == {"a.pdf/a.md", "a.pdf/a.json", "a.pdf/images/p1_0.png"}
    assert remove_stale(store, first, second) == ["a.pdf/images/p1_1.png"]  # after the manifest, in the daemon
    assert sorted(o.key for o in store.list("a.pdf")) == sorted(o.key for o in second)


def test_publish_is_fenced_by_the_versions_it_last_knew(tmp_path: Path) -> None:
    """A late writer meets keys changed since its claim: it overwrites them only if it can
    prove it still holds the claim; otherwise it stops and leaves them as they are."""
    import pytest

    from processor.document import Document, EngineInfo, InputFormat, Page, PageUnit, SourceInfo
    from watcher.manifest import OutputRecord
    from watcher.publish import Fenced, publish, remove_stale

    src = SourceInfo(name="a.pdf", format=InputFormat.PDF, size=1, sha256="0" * 64, page_count=1)
    doc = Document(source=src, engine=EngineInfo(name="t", version="1"),
                   pages=[Page(number=1, width=1, height=1, unit=PageUnit.POINT)])
    store = LocalStorage(tmp_path, create=True)
    known = publish(store, "a.pdf", doc)  # what a worker's previous manifest lists
    store.put("a.pdf/a.md", b"the successor's Markdown")  # another worker published since
    with pytest.raises(Fenced):
        publish(store, "a.pdf", doc, known, prove=lambda: False)
    assert (tmp_path / "a.pdf/a.md").read_bytes() == b"the successor's Markdown"
    proofs = []
    mine = publish(store, "a.pdf", doc, known, prove=lambda: proofs.append(1) or True)
    # a.md needs the proof; a.json too if the refused writer got to it (outputs go out in parallel)
    assert 1 <= len(proofs) <= 2 and (tmp_path / "a.pdf/a.md").read_bytes() != b"the successor's Markdown"
    assert all(store.head(o.key).etag == o.etag for o in mine)
    listed = store.put("a.pdf/gone.png", b"a figure the new version no longer has")
    store.put("a.pdf/gone.png", b"rewritten since")  # a newer version of a stale key stays
    stale = OutputRecord(key="a.pdf/gone.png", bytes=1, sha256="", etag=listed)
    assert remove_stale(store, [stale], mine) == [] and (tmp_path / "a.pdf/gone.png").exists()


def test_checkpoints_keep_whole_pages_of_one_input_version(tmp_path: Path) -> None:
    from processor.document import Asset, ErrorInfo, Page, PageStatus, PageUnit
    from processor.engines import PageResult
    from watcher.checkpoints import Checkpoints

    store = LocalStorage(tmp_path, create=True)
    v1, v2 = Checkpoints(store, "a.pdf", "1" * 64), Checkpoints(store, "a.pdf", "2" * 64)
    page = Page(number=3, width=1, height=1, unit=PageUnit.POINT, pipeline_markdown="# the pipeline's own")
    kept = v1.save(PageResult(page, [Asset(path="images/p3_1.png", data=b"png")]))
    assert kept and kept.assets[0].data == b"" and v1.figure(kept.assets[0]) == b"png"  # bytes left in the store
    passing = page.model_copy(update={"number": 4, "status": PageStatus.FAILED,
                                      "error": ErrorInfo(type="APIStatusError", message="503", retryable=True)})
    assert v1.save(PageResult(passing)) is None  # may pass next time: done again, not kept
    final = passing.model_copy(update={"number": 5, "error": ErrorInfo(type="CorruptPage", message="x")})
    assert v1.save(PageResult(final))  # will not pass: kept
    loaded = v1.load()
    assert sorted(loaded) == [3, 5] and v1.figure(loaded[3].assets[0]) == b"png"
    assert loaded[3].page.pipeline_markdown == "# the pipeline's own"  # kept beside the JSON model
    assert v2.load() == {}  # another version of the input never sees them
    store.delete("a.pdf/pages/" + "1" * 16 + "/images/p3_1.png")  # half a page: done again
    assert sorted(v1.load()) == [5]
    v2.save(PageResult(final))
    v2.clear()  # its own conversion only: another may be live
    assert v2.load() == {} and sorted(v1.load()) == [5]
    assert v2.clear_stale(quiet_for=3600) == [] and sorted(v1.load()) == [5]  # written just now
    assert v2.clear_stale(quiet_for=0) == ["1" * 16] and v1.load() == {}  # quiet long enough: gone


class EventLog:
    """A bound logger's stand-in: the events logged, by name."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def info(self, event: str, **_: object) -> None:
        self.events.append(event)

    warning = info


class _Unclaimed:
    """A claim that is never lost and keeps no progress (the conversion alone is tested)."""

    lost = False

    def progress(self, done: int, total: int) -> None:
        pass


UNCLAIMED = _Unclaimed()


def test_a_revised_page_replaces_its_checkpoint_keeps_its_figures_and_is_logged_once(tmp_path: Path) -> None:
    """With merge_pages the paddle engine streams each page at once, then ``restructure_pages``
    may revise it at the end (a table continued from the page before): the revision replaces
    the checkpoint and the final page, its figures stay those that left with the first version,
    and ``page.converted`` is logged once per page."""
    from processor.document import Asset, Document, EngineInfo, Page, PageUnit, SourceInfo
    from processor.engines import PageResult
    from watcher.checkpoints import Checkpoints
    from watcher.resuming import ResumingConversion

    first = Page(number=1, width=1, height=1, unit=PageUnit.POINT, pipeline_markdown="first")
    revised = first.model_copy(update={"pipeline_markdown": "revised"})

    class Engine:
        def __init__(self, pages: int) -> None:
            self.pages = pages

        def convert(self, spooled, name, *, skip, on_page, on_opened, should_abort):
            on_opened(self.pages)
            on_page(PageResult(first, [Asset(path="images/p1_1.png", data=b"png")]))
            on_page(PageResult(revised, revised=True))
            return Document(source=SourceInfo(name=name, format="pdf", size=1, sha256="1" * 64, page_count=1),
                            engine=EngineInfo(name="x", version="1"), pages=[])  # fmt: skip

    store, bound = LocalStorage(tmp_path, create=True), EventLog()
    checkpoints = Checkpoints(store, "a.pdf", "1" * 64)
    doc, resumed = ResumingConversion(checkpoints, UNCLAIMED, bound).run(Engine(2), tmp_path / "a.pdf", "a.pdf", lambda: False)  # type: ignore[arg-type]
    assert resumed == 0 and bound.events.count("page.converted") == 1
    assert [p.pipeline_markdown for p in doc.pages] == ["revised"]
    assert [a.path for a in doc.assets] == ["images/p1_1.png"] and checkpoints.figure(doc.assets[0]) == b"png"
    [saved] = checkpoints.load().values()
    assert saved.page.pipeline_markdown == "revised" and checkpoints.figure(saved.assets[0]) == b"png"
    # a one-page document is published as soon as its page is done: no checkpoint, figures in hand
    one = Checkpoints(store, "b.pdf", "2" * 64)
    doc, _ = ResumingConversion(one, UNCLAIMED, bound).run(Engine(1), tmp_path / "b.pdf", "b.pdf", lambda: False)  # type: ignore[arg-type]
    assert one.load() == {} and doc.assets[0].data == b"png"


def test_checkpoints_are_written_several_at_once_and_a_revision_lands_last(tmp_path: Path) -> None:
    """Each page's checkpoint was written before the next page was looked at: 64 pages answered
    together by the pipeline waited for 64 writes in a row (each fsynced on a folder, a round
    trip on S3) before the document could be published."""
    import time

    from processor.document import Asset, Document, EngineInfo, Page, PageUnit, SourceInfo
    from processor.engines import PageResult
    from watcher.checkpoints import Checkpoints
    from watcher.resuming import ResumingConversion

    class SlowStore(LocalStorage):
        def __init__(self, root: Path) -> None:
            super().__init__(root, create=True)
            self.writing = self.most = 0
            self.lock = threading.Lock()

        def put(self, key: str, data: bytes, content_type: str | None = None, **kw) -> str:
            with self.lock:
                self.writing += 1
                self.most = max(self.most, self.writing)
            time.sleep(0.05)
            try:
                return super().put(key, data, content_type, **kw)
            finally:
                with self.lock:
                    self.writing -= 1

    pages = [Page(number=n, width=1, height=1, unit=PageUnit.POINT, pipeline_markdown="first") for n in range(1, 9)]

    class Engine:
        def convert(self, spooled, name, *, skip, on_page, on_opened, should_abort):
            on_opened(len(pages))
            for page in pages:
                on_page(PageResult(page, [Asset(path=f"images/p{page.number}_1.png", data=b"png")]))
            on_page(PageResult(pages[2].model_copy(update={"pipeline_markdown": "revised"}), revised=True))
            return Document(source=SourceInfo(name=name, format="pdf", size=1, sha256="1" * 64, page_count=8),
                            engine=EngineInfo(name="x", version="1"), pages=[])  # fmt: skip

    store = SlowStore(tmp_path)
    checkpoints = Checkpoints(store, "a.pdf", "1" * 64)
    unsaved: list[int] = []

    class CheckingLog(EventLog):
        """A page reported converted must be in its checkpoint already: a kill then loses nothing
        the log or the manifest's progress counted (bench/resume.py once saw 1 event, 0 files)."""

        def info(self, event: str, **kw: object) -> None:
            super().info(event)
            if event == "page.converted" and store.head(f"{checkpoints.prefix}p{kw['page']:06d}.json") is None:
                unsaved.append(int(kw["page"]))  # type: ignore[call-overload]

    bound = CheckingLog()
    doc, _ = ResumingConversion(checkpoints, UNCLAIMED, bound).run(Engine(), tmp_path / "a.pdf", "a.pdf", lambda: False)  # type: ignore[arg-type]
    assert store.most > 1 and bound.events.count("page.converted") == 8 and unsaved == []
    loaded = checkpoints.load()
    assert sorted(loaded) == list(range(1, 9)) and loaded[3].page.pipeline_markdown == "revised"
    assert [p.pipeline_markdown for p in doc.pages].count("revised") == 1
    assert all(checkpoints.figure(a) == b"png" for a in doc.assets) and len(doc.assets) == 8
