"""What is converted is the version claimed; a document with missing pages says so (``partial``)
and gets them later; page checkpoints belong to one conversion (bytes, engine, options)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from processor.document import EngineInfo, ErrorInfo, Page, PageStatus, PageUnit
from processor.engines import PageResult
from tests.docs import make_text_pdf
from tests.test_daemon_stages import InProcessEngine, daemon
from watcher.checkpoints import Checkpoints
from watcher.status import manifests, requeue
from watcher.storage import LocalStorage


class ReplacedAfterClaim(LocalStorage):
    """A new upload of the key lands just before the claimed version is read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.replaced = False

    def download(self, key: str, dest: Path, **kw) -> None:
        if not self.replaced:
            self.replaced = True
            make_text_pdf(self._path(key), ["The second upload."])
        super().download(key, dest, **kw)


def test_an_upload_landing_between_claim_and_fetch_is_converted_under_its_own_version(tmp_path: Path):
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["The first upload."])
    sink, engine = LocalStorage(tmp_path / "out", create=True), InProcessEngine()
    d = daemon(tmp_path, sink, engine)
    d.source = d.crew.source = ReplacedAfterClaim(tmp_path / "in")
    first = d.source.head("a.pdf")
    assert d.process(first) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "queued" and m.attempts == 0 and engine.calls == 0  # released, not converted
    second = d.source.head("a.pdf")
    assert second.etag != first.etag and d.process(second) is True
    [(_, m, _)] = list(manifests(sink))
    new_bytes = (tmp_path / "in" / "a.pdf").read_bytes()
    assert m.status.value == "succeeded" and m.source.etag == second.etag
    assert m.source.sha256 == hashlib.sha256(new_bytes).hexdigest()
    assert "The second upload." in (tmp_path / "out/a.pdf/a.md").read_text()


class PageTwoFails(InProcessEngine):
    """Fails page 2 for good (until told otherwise); remembers which pages it was asked to skip."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = {2}
        self.skipped: list[set[int]] = []

    def convert(self, spooled, name, *, skip=(), on_page=lambda r: None, **kw):
        self.skipped.append(set(skip))

        def page(result: PageResult) -> None:
            if result.page.number in self.failing:
                error = ErrorInfo(type="CorruptPage", message="page 2 cannot be read", retryable=False)
                result = PageResult(result.page.model_copy(update={"status": PageStatus.FAILED, "error": error,
                                                                   "blocks": []}))
            on_page(result)

        return super().convert(spooled, name, skip=skip, on_page=page, **kw)


def test_a_document_published_with_failed_pages_is_partial_and_retry_converts_only_them(tmp_path: Path):
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Page one.", "Page two.", "Page three."])
    sink, engine = LocalStorage(tmp_path / "out", create=True), PageTwoFails()
    d = daemon(tmp_path, sink, engine)
    item = d.source.head("a.pdf")
    assert d.process(item) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "partial" and [f.number for f in m.pages.failed] == [2] and m.outputs
    assert d.metrics.documents.labels("partial")._value.get() == 1
    assert d.process(item) is False  # done for now: not converted again by itself
    engine.failing = set()
    assert requeue(sink, partial=True) == ["a.pdf"]
    assert d.process(item) is True
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "succeeded" and not m.pages.failed and m.pages.done == 3
    assert engine.skipped[-1] == {1, 3}  # only the missing page was converted again
    assert "two." in (tmp_path / "out/a.pdf/a.md").read_text()


def test_checkpoints_of_another_engine_or_options_are_not_resumed(tmp_path: Path):
    store = LocalStorage(tmp_path, create=True)
    sha = "1" * 64
    cpu = EngineInfo(name="cpu", version="docwatch 0.1.0; tesseract 5.3.0", options={"ocr_dpi": 300})
    page = Page(number=1, width=1, height=1, unit=PageUnit.POINT)
    Checkpoints(store, "a.pdf", sha, cpu, 144).save(PageResult(page))
    assert sorted(Checkpoints(store, "a.pdf", sha, cpu, 144).load()) == [1]  # the same conversion resumes
    other_options = cpu.model_copy(update={"options": {"ocr_dpi": 200}})
    other_version = cpu.model_copy(update={"version": "docwatch 0.2.0; tesseract 5.3.0"})
    paddle = EngineInfo(name="paddleocr-vl", version="3.7.0", options={})
    for engine, dpi in ((other_options, 144), (other_version, 144), (paddle, 144), (cpu, 200)):
        assert Checkpoints(store, "a.pdf", sha, engine, dpi).load() == {}, (engine, dpi)


def test_how_an_engine_runs_does_not_name_its_checkpoints(tmp_path: Path):
    """Replicas on other nodes (other CPU counts, their own VL server) resume each other's pages."""
    store = LocalStorage(tmp_path, create=True)
    here = EngineInfo(name="cpu", version="1", options={"ocr_dpi": 300, "page_workers": 2})
    there = here.model_copy(update={"options": {"ocr_dpi": 300, "page_workers": 64}})
    Checkpoints(store, "a.pdf", "1" * 64, here, 144).save(PageResult(Page(number=1, width=1, height=1,
                                                                          unit=PageUnit.POINT)))
    assert sorted(Checkpoints(store, "a.pdf", "1" * 64, there, 144).load()) == [1]
