"""The published JSON Schemas (docs/schemas/) equal `docwatch schema X`, and what a real daemon
run writes matches them: every manifest, and the completion event built from each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.document import ErrorInfo
from tests.daemon_harness import REPO, start_daemon
from tests.docs import make_figure_pdf, make_multipage_pdf, make_structured_pdf
from tests.schema_check import assert_valid_document, assert_valid_event, assert_valid_manifest
from tests.test_cli import docwatch
from watcher.events import EventStatus, NotFinal, event_from_manifest
from watcher.layout import input_key_of_manifest
from watcher.manifest import Manifest, PageFailure, SourceRecord, Status


@pytest.mark.parametrize("name", ["document", "manifest", "event"])
def test_published_schema_is_what_docwatch_prints(tmp_path: Path, name: str) -> None:
    r = docwatch("schema", name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    published = REPO / "docs" / "schemas" / f"{name}.schema.json"
    assert published.read_text() == r.stdout, f"run: python -m watcher schema {name} -o {published.relative_to(REPO)}"
    assert json.loads(r.stdout)["title"] == {"document": "Document", "manifest": "Manifest",
                                             "event": "CompletionEvent"}[name]


def test_schema_without_a_name_is_the_document(tmp_path: Path) -> None:
    assert docwatch("schema", cwd=tmp_path).stdout == (REPO / "docs/schemas/document.schema.json").read_text()
    assert docwatch("schema", "nope", cwd=tmp_path).returncode == 2


@pytest.mark.slow
def test_every_manifest_of_a_daemon_run_matches_the_schema(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / "sub").mkdir(parents=True)
    make_multipage_pdf(inp / "three.pdf", n=3)
    make_structured_pdf(inp / "sub" / "structured.pdf")
    make_figure_pdf(inp / "figure.pdf")
    (inp / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\nnot really a pdf")
    (inp / "empty.pdf").write_bytes(b"")
    d = start_daemon(tmp_path, str(inp), str(out), once=True, health=False)
    assert d.wait_exit(timeout=300) == 4, d.log_path.read_text()[-3000:]  # finished, two failed

    manifests = sorted(p for p in out.rglob("manifest.json") if ".docwatch" not in p.parts)
    keys = {str(p.parent.relative_to(out)) for p in manifests}
    assert keys == {"three.pdf", "sub/structured.pdf", "figure.pdf", "corrupt.pdf", "empty.pdf"}
    statuses = {}
    for path in manifests:
        data = assert_valid_manifest(path)
        key = str(path.relative_to(out))
        event = event_from_manifest(Manifest.model_validate(data), key)
        ev = assert_valid_event(json.loads(event.model_dump_json()))
        assert ev["manifest_key"] == key and ev["input"]["key"] == input_key_of_manifest(key)
        assert ev["event_id"] == event_from_manifest(Manifest.from_bytes(path.read_bytes()), key).event_id
        statuses[data["source"]["key"]] = ev["status"]
        if ev["status"] == "succeeded":
            assert ev["error"] is None and {o["key"] for o in ev["outputs"]} >= {
                o["key"] for o in data["outputs"]} and ev["pages"]["done"] == ev["pages"]["total"] > 0
            stem = Path(data["source"]["key"]).stem
            assert_valid_document(path.parent / f"{stem}.json")
        else:
            assert ev["error"]["type"] in ("CorruptInput", "EmptyInput") and ev["outputs"] == []
    assert statuses == {"three.pdf": "succeeded", "sub/structured.pdf": "succeeded", "figure.pdf": "succeeded",
                        "corrupt.pdf": "failed", "empty.pdf": "failed"}


def _manifest(**kw) -> Manifest:
    src = SourceRecord(key="a/b.pdf", uri="/in/a/b.pdf", size=10, etag="e1", sha256="0" * 64,
                       mtime="2026-01-01T00:00:00Z")
    return Manifest(source=src, attempts=1, **kw)


def test_event_of_a_partial_document_and_its_id() -> None:
    err = ErrorInfo(type="PageTimeout", message="page 2 took too long")
    m = _manifest(status=Status.PARTIAL, finished_at="2026-01-01T00:01:00Z",
                  pages={"total": 3, "done": 2, "failed": [PageFailure(number=2, error=err)]})
    ev = event_from_manifest(m, "a/b.pdf/manifest.json")
    assert ev.status is EventStatus.PARTIAL and ev.pages.failed == [2] and ev.error.type == "PageTimeout"
    assert ev.event_id == event_from_manifest(m.model_copy(), "a/b.pdf/manifest.json").event_id
    assert ev.event_id != event_from_manifest(m.model_copy(update={"fence": 2}), "x").event_id  # another claim
    assert_valid_event(json.loads(ev.model_dump_json()))
    with pytest.raises(NotFinal):
        event_from_manifest(_manifest(status=Status.PROCESSING), "a/b.pdf/manifest.json")
    with pytest.raises(NotFinal):  # failed but a retry is ahead
        event_from_manifest(_manifest(status=Status.FAILED, next_attempt_at="2026-01-01T00:05:00Z"), "k")
