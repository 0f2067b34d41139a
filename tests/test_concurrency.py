"""Documents in flight, with the real daemon: several documents share the engine at once, never
more than ``DOCWATCH_CONCURRENCY``, and an engine crash among them is charged to no innocent one:
each runs alone next, so the culprit is found alone."""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest

from tests.daemon_harness import DaemonProc, start_daemon, wait_status
from tests.docs import make_scanned_pdf, make_text_pdf

pytestmark = pytest.mark.slow


def most_in_flight(d: DaemonProc) -> int:
    """The most documents between their ``document.claimed`` and their last event at once,
    from the order of the daemon's own log lines (no clock involved)."""
    open_now, most = set(), 0
    for line in d.log_path.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "document.claimed":
            open_now.add(event["key"])
            most = max(most, len(open_now))
        elif event.get("event") in ("document.succeeded", "document.failed", "document.released",
                                    "document.retry_scheduled"):
            open_now.discard(event.get("key"))
    return most


def test_documents_share_the_engine_up_to_the_concurrency(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(8):
        make_text_pdf(inp / f"doc-{i}.pdf", [f"Document {i}, one page."])
    env = {"DOCWATCH_ENGINE_CLASS": "tests.fixed_latency_engine:FixedLatencyEngine",
           "DOCWATCH_FIXED_ENGINE_SECONDS": "0.4", "DOCWATCH_CONCURRENCY": "3"}  # fmt: skip
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    try:
        for i in range(8):
            m = wait_status(out, f"doc-{i}.pdf", timeout=120)
            assert m["status"] == "succeeded" and m["attempts"] == 1
    finally:
        assert d.stop() == 0
    assert most_in_flight(d) == 3  # the engine's queue was kept full, never beyond the setting


def test_an_engine_crash_among_several_documents_fails_only_the_culprit(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    text = "Невиновный документ распознаётся до конца. " * 10
    for name in ("innocent-1.pdf", "innocent-2.pdf"):  # two OCR pages: still converting when the crash comes
        merged = pymupdf.open()
        for i in range(2):
            merged.insert_pdf(pymupdf.open(make_scanned_pdf(tmp_path / f"{name}-{i}.pdf", text=text).path))
        merged.save(inp / name)
    make_text_pdf(inp / "poison.pdf", ["This page says KILL-ENGINE to the engine."])
    env = {"DOCWATCH_ENGINE_CLASS": "tests.fake_engine:FaultyEngine", "DOCWATCH_CONCURRENCY": "3",
           "DOCWATCH_MAX_ATTEMPTS": "2", "DOCWATCH_RETRY_BACKOFF_SECONDS": "0"}  # fmt: skip
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    try:
        poison = wait_status(out, "poison.pdf", timeout=300)
        innocents = [wait_status(out, n, timeout=300) for n in ("innocent-1.pdf", "innocent-2.pdf")]
    finally:
        assert d.stop() == 0
    crashes = [e for e in d.events() if e.get("event") == "engine.crashed"]
    assert crashes and crashes[0]["documents_in_flight"] >= 2
    assert poison["status"] == "failed" and poison["error"]["type"] == "EngineFailure"
    assert poison["attempts"] == 2 and "died" in poison["error"]["message"]  # both attempts alone
    for m in innocents:
        assert m["status"] == "succeeded" and m["attempts"] == 1 and m["pages"]["done"] == 2
    assert d.count("document.alone", key="poison.pdf") >= 1
