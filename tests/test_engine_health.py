"""The engine on bad days, with the real daemon: a document that kills the engine or the whole
daemon, an engine that cannot be reloaded, a page that hangs, a long document within its
per-page budget. Faults come from tests/fake_engine.py (the CPU engine plus triggers)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.daemon_harness import DaemonProc, manifest, start_daemon, wait_for, wait_status
from tests.docs import make_scanned_pdf, make_text_pdf

pytestmark = pytest.mark.slow
FAULTY = {"DOCWATCH_ENGINE_CLASS": "tests.fake_engine:FaultyEngine"}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in").mkdir()
    return tmp_path / "in", tmp_path / "out"


def control(tmp_path: Path, **settings: str) -> dict[str, str]:
    path = tmp_path / "engine-control.json"
    path.write_text(json.dumps(settings))
    return {**FAULTY, "DOCWATCH_FAKE_ENGINE_CONTROL": str(path)}


def ready(d: DaemonProc) -> bool:
    assert d.proc.poll() is None, d.log_path.read_text()[-2000:]
    try:
        return d.http("/readyz")[0] == 200
    except OSError:  # not listening yet
        return False


@pytest.mark.parametrize("reload", ["fail", "hang"])
def test_an_engine_that_cannot_come_back_stops_claiming_then_fails_liveness(tmp_path, dirs, reload):
    inp, out = dirs
    env = {**control(tmp_path, load="ok"), "DOCWATCH_MAX_ATTEMPTS": "1", "DOCWATCH_ENGINE_LOAD_TIMEOUT_SECONDS": "6",
           "DOCWATCH_ENGINE_DEAD_AFTER_SECONDS": "10"}
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    try:
        wait_for(lambda: ready(d), timeout=120, what="readiness")
        control(tmp_path, load=reload)  # from now on every (re)load fails or hangs
        make_text_pdf(inp / "poison.pdf", ["This page says KILL-ENGINE to the engine."])
        m = wait_status(out, "poison.pdf", timeout=60)
        assert m["status"] == "failed" and m["error"]["type"] == "EngineFailure" and "died" in m["error"]["message"]
        # a restart is tried first (readyz says "loading"); once it fails the engine is down
        wait_for(lambda: json.loads(d.http("/readyz")[1])["engine"] == "down", timeout=30, what="engine down")
        assert d.http("/readyz")[0] == 503
        make_text_pdf(inp / "innocent.pdf", ["An ordinary page."])
        time.sleep(3)  # several polls: nothing may be claimed while the engine is down
        assert manifest(out, "innocent.pdf") is None
        assert d.http("/healthz")[0] == 200  # still inside dead_after
        wait_for(lambda: d.http("/healthz")[0] == 503, timeout=30, what="liveness to fail")
        assert d.proc.poll() is None
        control(tmp_path, load="ok")  # whatever held the GPU let go: a reload in the background works
        assert wait_status(out, "innocent.pdf", timeout=120)["status"] == "succeeded"
        assert d.http("/healthz")[0] == 200 and ready(d)
        assert d.count("engine.restart_failed") == 1 and d.count("engine.revived") == 1
    finally:
        assert d.stop() == 0


def test_a_document_that_kills_the_engine_fails_after_max_attempts(tmp_path, dirs):
    inp, out = dirs
    make_text_pdf(inp / "poison.pdf", ["KILL-ENGINE"])
    make_text_pdf(inp / "fine.pdf", ["A page that converts."])
    d = start_daemon(tmp_path, str(inp), str(out), extra_env={**FAULTY, "DOCWATCH_MAX_ATTEMPTS": "2"})
    try:
        m = wait_status(out, "poison.pdf", timeout=120)
        assert m["status"] == "failed" and m["attempts"] == 2 and m["next_attempt_at"] is None
        assert m["error"]["type"] == "EngineFailure"
        assert wait_status(out, "fine.pdf")["status"] == "succeeded"
    finally:
        assert d.stop() == 0


def test_a_document_that_kills_its_worker_fails_after_max_attempts_across_replicas(tmp_path, dirs):
    """The whole daemon dies on it (as when a container runs out of memory); replicas are
    restarted as an orchestrator would. Each death is an attempt; then it is failed for good."""
    inp, out = dirs
    make_text_pdf(inp / "poison.pdf", ["KILL-DAEMON"])
    env = {**FAULTY, "DOCWATCH_MAX_LAPSES": "2", "DOCWATCH_LEASE_SECONDS": "5"}
    replicas = {name: start_daemon(tmp_path, str(inp), str(out), name=name, extra_env=env) for name in ("r1", "r2")}
    deaths = 0
    try:
        deadline = time.monotonic() + 240
        while not ((m := manifest(out, "poison.pdf")) and m["status"] == "failed"):
            assert time.monotonic() < deadline, "the poison document was never given up"
            for name, d in list(replicas.items()):
                if d.proc.poll() is not None:  # killed: restart it, as Kubernetes would
                    assert d.proc.returncode == -signal.SIGKILL
                    deaths += 1
                    replicas[name] = start_daemon(tmp_path, str(inp), str(out), name=f"{name}-{deaths}",
                                                  extra_env=env)
            time.sleep(0.3)
        assert m["error"]["type"] == "WorkerLost" and m["error"]["retryable"] is False
        assert m["attempts"] == 2 and m["lapses"] == 2 and deaths == 2
        make_text_pdf(inp / "after.pdf", ["Life goes on."])
        assert wait_status(out, "after.pdf")["status"] == "succeeded"
    finally:
        for d in replicas.values():
            d.stop()


def test_page_budget_kills_a_hung_page_but_not_a_long_document(tmp_path, dirs):
    inp, out = dirs
    for i in range(4):  # image-only pages: each needs OCR, together well over one page's budget
        make_scanned_pdf(tmp_path / f"scan{i}.pdf")
    import pymupdf

    long_doc = pymupdf.open()
    for i in range(4):
        long_doc.insert_pdf(pymupdf.open(tmp_path / f"scan{i}.pdf"))
    long_doc.save(inp / "long scan.pdf")
    make_text_pdf(inp / "hung.pdf", ["HANG-ENGINE"])
    env = {**FAULTY, "DOCWATCH_MAX_ATTEMPTS": "1", "DOCWATCH_PAGE_TIMEOUT_SECONDS": "8"}
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    try:
        hung = wait_status(out, "hung.pdf", timeout=120)
        assert hung["status"] == "failed" and "page_timeout_seconds" in hung["error"]["message"]
        done = wait_status(out, "long scan.pdf", timeout=180)
        assert done["status"] == "succeeded" and done["pages"]["done"] == 4
    finally:
        assert d.stop() == 0


def test_once_ends_with_exit_3_when_the_engine_cannot_come_back(tmp_path, dirs):
    inp, out = dirs
    env = {**control(tmp_path, load="first-only"), "DOCWATCH_MAX_ATTEMPTS": "1"}
    make_text_pdf(inp / "poison.pdf", ["KILL-ENGINE"])
    make_text_pdf(inp / "later.pdf", ["Left for the next run."])
    d = start_daemon(tmp_path, str(inp), str(out), once=True, extra_env=env)
    assert d.wait_exit(timeout=120) == 3
    assert d.count("engine.down") == 1


def test_kill_9_mid_document_the_successor_converts_only_the_rest(tmp_path, dirs):
    """Pages are checkpointed as they leave the engine; a daemon killed a third of the way
    through leaves them for whoever takes the document over."""
    import pymupdf

    inp, out = dirs
    make_scanned_pdf(tmp_path / "one.pdf")
    doc, page = pymupdf.open(), pymupdf.open(tmp_path / "one.pdf")
    for _ in range(12):
        doc.insert_pdf(page)
    doc.save(inp / "scan.pdf")
    env = {"DOCWATCH_LEASE_SECONDS": "5"}
    first = start_daemon(tmp_path, str(inp), str(out), name="first", extra_env=env)
    # progress shows in the manifest while it works (written with each lease renewal)
    wait_for(lambda: (m := manifest(out, "scan.pdf")) and m["status"] == "processing" and m["pages"]["done"] >= 4,
             timeout=180, what="a third of the pages in the manifest")
    assert manifest(out, "scan.pdf")["pages"]["total"] == 12
    first.stop(signal.SIGKILL)
    done_before = first.count("page.converted", status="ok")
    heir = start_daemon(tmp_path, str(inp), str(out), name="heir", extra_env=env)
    try:
        m = wait_status(out, "scan.pdf", timeout=240)
    finally:
        assert heir.stop() == 0
    assert m["status"] == "succeeded" and m["pages"]["done"] == 12 and m["attempts"] == 2
    [converted] = [e for e in heir.events() if e.get("event") == "document.converted"]
    assert converted["resumed_pages"] >= done_before >= 4
    assert done_before + heir.count("page.converted", status="ok") <= 12 + 1  # + the page in flight
    assert not (out / "scan.pdf" / "pages").exists()
