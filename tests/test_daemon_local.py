"""The real daemon on temp folders: drop files, read manifests and outputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import struct
import time
import zlib
from pathlib import Path

import pymupdf
import pytest
from rapidfuzz.distance import Levenshtein

from tests.daemon_harness import manifest, start_daemon, wait_for, wait_status
from tests.docs import make_blank_pdf, make_multipage_pdf, make_scan_png, make_scanned_pdf, make_text_pdf

pytestmark = pytest.mark.slow


def ned(a: str, b: str) -> float:
    a, b = " ".join(a.split()), " ".join(b.split())
    return Levenshtein.normalized_distance(a, b)


def body(md: str) -> str:
    return "\n".join(line for line in md.splitlines() if not line.startswith("<!--") and not line.startswith("#"))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in").mkdir()
    return tmp_path / "in", tmp_path / "out"


def test_daemon_converts_dropped_and_preexisting_files(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    before = make_multipage_pdf(inp / "before start.pdf", n=3)  # present before the daemon starts
    d = start_daemon(tmp_path, str(inp), str(out))
    try:
        m = wait_status(out, "before start.pdf")
        assert m["status"] == "succeeded"
        # dropped while running, in a sub-folder, with a Cyrillic name
        (inp / "папка").mkdir()
        make_text_pdf(inp / "папка" / "отчёт 1.pdf", ["Первая страница отчёта.", "Вторая страница отчёта."])
        m2 = wait_status(out, "папка/отчёт 1.pdf")
        assert m2["status"] == "succeeded"
        assert d.http("/healthz")[0] == 200
        wait_for(lambda: d.http("/readyz")[0] == 200, what="readiness")
        metrics = d.http("/metrics")[1].decode()
        assert 'docwatch_documents_total{status="succeeded"} 2.0' in metrics
        assert 'docwatch_pages_total{status="ok"} 5.0' in metrics  # 3 + 2 pages
        assert 'docwatch_stage_seconds_count{stage="convert"} 2.0' in metrics
        assert "docwatch_engine_ready 1.0" in metrics
    finally:
        assert d.stop() == 0

    # outputs: <out>/<rel>/<stem>.md, .json, manifest.json; all pages, real Markdown
    md = (out / "before start.pdf" / "before start.md").read_text()
    assert md.count("<!-- page ") == 3
    for i, page_text in enumerate(before.pages, 1):
        assert f"<!-- page {i} -->" in md
        assert f"Страница номер {i}" in md and f"Page {i} says" in md
    assert ned(body(md), before.text) < 0.1
    doc = json.loads((out / "before start.pdf" / "before start.json").read_text())
    assert [p["number"] for p in doc["pages"]] == [1, 2, 3]
    assert doc["source"]["sha256"] == hashlib.sha256((inp / "before start.pdf").read_bytes()).hexdigest()
    ru_md = (out / "папка" / "отчёт 1.pdf" / "отчёт 1.md").read_text()
    assert "Первая страница отчёта." in ru_md and "Вторая страница отчёта." in ru_md

    # the manifest says what happened, and its outputs are the real files
    assert m["source"]["key"] == "before start.pdf" and m["source"]["size"] == before.path.stat().st_size
    assert m["attempts"] == 1 and m["worker_id"] == "d" and m["lease"] is None
    assert m["pages"] == {"total": 3, "done": 3, "failed": [], "fallbacks": {}}
    assert m["engine"]["name"] == "cpu"
    assert set(m["timings"]) >= {"claim", "fetch", "convert", "publish"}
    assert {o["key"] for o in m["outputs"]} == {"before start.pdf/before start.md", "before start.pdf/before start.json"}
    for o in m["outputs"]:
        data = (out / o["key"]).read_bytes()
        assert o["bytes"] == len(data) and o["sha256"] == hashlib.sha256(data).hexdigest()
    assert before.path.read_bytes()  # inputs are left in place by default


def test_restart_skips_done_and_reprocesses_changed(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    make_text_pdf(inp / "a.pdf", ["Alpha version one."])
    make_text_pdf(inp / "b.pdf", ["Bravo stays the same."])
    d = start_daemon(tmp_path, str(inp), str(out), once=True, name="first")
    assert d.wait_exit() == 0
    assert d.count("document.claimed") == 2

    make_text_pdf(inp / "a.pdf", ["Alpha version two, changed."])
    shutil.copy(inp / "b.pdf", inp / "b-copy.tmp")
    (inp / "b-copy.tmp").replace(inp / "b.pdf")  # same bytes, new file: not converted again
    d2 = start_daemon(tmp_path, str(inp), str(out), once=True, name="second")
    assert d2.wait_exit() == 0
    assert d2.count("document.convert.start", key="a.pdf") == 1
    assert d2.count("document.convert.start", key="b.pdf") == 0
    assert d2.count("document.unchanged", key="b.pdf") == 1
    assert "Alpha version two, changed." in (out / "a.pdf" / "a.md").read_text()
    assert manifest(out, "b.pdf")["status"] == "succeeded"

    d3 = start_daemon(tmp_path, str(inp), str(out), once=True, name="third")
    assert d3.wait_exit() == 0
    assert d3.count("document.claimed") == 0  # nothing new: a poll is just a listing


def _huge_png(path: Path, w: int = 60000, h: int = 60000) -> None:
    """A valid PNG header claiming w x h pixels, with a tiny body: the dimension check must
    refuse it before any decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_bad_inputs_end_in_clear_manifests_and_nothing_is_lost(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    good = make_text_pdf(tmp_path / "good.pdf", ["Good document text."]).path.read_bytes()
    (inp / "zero.pdf").write_bytes(b"")
    (inp / "truncated.pdf").write_bytes(good[: len(good) // 3])
    enc = pymupdf.open(stream=good, filetype="pdf")
    enc.save(inp / "encrypted.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    make_scan_png(tmp_path / "scan.png", text="Это страница скана.\n\nThis is a scanned page.")
    shutil.copy(tmp_path / "scan.png", inp / "really a png.pdf")
    (inp / "really a pdf.png").write_bytes(good)
    (inp / "notes.txt").write_text("not a document")
    _huge_png(inp / "huge.png")
    make_blank_pdf(inp / "blank 1000.pdf", 1000)
    (inp / "name with spaces — и юникод.pdf").write_bytes(good)
    inputs_before = {p.name: p.read_bytes() for p in inp.iterdir()}

    d = start_daemon(tmp_path, str(inp), str(out), extra_env={"DOCWATCH_CPU__PAGE_WORKERS": "2"})
    try:
        results = {name: wait_status(out, name, timeout=180) for name in inputs_before}
        assert d.proc.poll() is None  # still running after all of that
        # and still converting: a good file dropped now succeeds
        make_text_pdf(inp / "after.pdf", ["Still alive after bad input."])
        assert wait_status(out, "after.pdf")["status"] == "succeeded"
    finally:
        assert d.stop() == 0

    def err(name: str) -> dict:
        assert results[name]["status"] == "failed", results[name]
        return results[name]["error"]

    assert err("zero.pdf")["type"] == "EmptyInput"
    assert err("truncated.pdf")["type"] == "CorruptInput"
    assert err("encrypted.pdf")["type"] == "EncryptedInput" and "password" in err("encrypted.pdf")["message"]
    assert err("notes.txt")["type"] == "UnsupportedFormat"
    assert err("huge.png")["type"] == "InputTooLarge" and "60000x60000" in err("huge.png")["message"]
    for name in ("zero.pdf", "truncated.pdf", "encrypted.pdf", "notes.txt", "huge.png"):
        assert err(name)["retryable"] is False and results[name]["attempts"] == 1
    # sniffed by content, not by name
    assert results["really a png.pdf"]["status"] == "succeeded"
    assert "страница скана" in (out / "really a png.pdf" / "really a png.md").read_text()
    assert results["really a pdf.png"]["status"] == "succeeded"
    assert "Good document text." in (out / "really a pdf.png" / "really a pdf.md").read_text()
    blank = results["blank 1000.pdf"]
    assert blank["status"] == "succeeded" and blank["pages"]["total"] == 1000 and blank["pages"]["done"] == 1000
    assert results["name with spaces — и юникод.pdf"]["status"] == "succeeded"
    assert "Good document text." in (out / "name with spaces — и юникод.pdf" / "name with spaces — и юникод.md").read_text()
    # the log says it too
    failed_events = {e["key"]: e for e in d.events() if e.get("event") == "document.failed"}
    assert failed_events["encrypted.pdf"]["error_type"] == "EncryptedInput"
    # nothing lost: every input is still there, byte for byte
    assert {p.name: p.read_bytes() for p in inp.iterdir() if p.name != "after.pdf"} == inputs_before


def test_incomplete_files_are_not_picked_up(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    data = make_text_pdf(tmp_path / "src.pdf", ["Written slowly, read once."]).path.read_bytes()
    d = start_daemon(tmp_path, str(inp), str(out), extra_env={"DOCWATCH_SETTLE_SECONDS": "2"})
    try:
        wait_for(lambda: d.count("index.loaded"), what="daemon start")
        (inp / "upload.pdf.part").write_bytes(data)
        (inp / ".hidden.pdf").write_bytes(data)
        (inp / "~lock.pdf").write_bytes(data)
        with (inp / "slow.pdf").open("wb") as f:  # a copy in progress: size keeps changing
            step = len(data) // 8 + 1
            for i in range(0, len(data), step):
                f.write(data[i : i + step])
                f.flush()
                time.sleep(0.4)
        time.sleep(1.5)
        (inp / "upload.pdf.part").rename(inp / "upload.pdf")
        assert wait_status(out, "upload.pdf")["status"] == "succeeded"
        assert wait_status(out, "slow.pdf")["status"] == "succeeded"
        time.sleep(1)
    finally:
        d.stop()
    assert d.count("document.claimed", key="slow.pdf") == 1
    for skipped in ("upload.pdf.part", ".hidden.pdf", "~lock.pdf"):
        assert d.count("document.claimed", key=skipped) == 0
        assert not (out / skipped).exists()
    assert "Written slowly, read once." in (out / "slow.pdf" / "slow.md").read_text()


def test_two_daemons_on_one_folder_never_share_a_document(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    for i in range(12):
        make_text_pdf(inp / f"doc{i:02}.pdf", [f"Document number {i} for two daemons."])
    a = start_daemon(tmp_path, str(inp), str(out), name="a", once=True, health=False)
    b = start_daemon(tmp_path, str(inp), str(out), name="b", once=True, health=False)
    assert a.wait_exit() == 0 and b.wait_exit() == 0
    claimed = [e["key"] for d in (a, b) for e in d.events() if e.get("event") == "document.claimed"]
    assert sorted(claimed) == [f"doc{i:02}.pdf" for i in range(12)]  # each exactly once, in total
    for i in range(12):
        m = manifest(out, f"doc{i:02}.pdf")
        assert m["status"] == "succeeded" and m["attempts"] == 1


def test_output_inside_input_is_refused(tmp_path: Path, dirs) -> None:
    inp, _ = dirs
    for output in (inp, inp / "results"):
        d = start_daemon(tmp_path, str(inp), str(output), once=True, health=False)
        assert d.wait_exit() == 2
        assert any("inside" in e.get("error", "") for e in d.events() if e.get("event") == "startup.failed")


def test_move_after_processing(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    make_text_pdf(inp / "ok.pdf", ["Moved when done."])
    (inp / "bad.pdf").write_bytes(b"%PDF-1.7 garbage")
    env = {"DOCWATCH_ON_SUCCESS": "move", "DOCWATCH_ON_FAILURE": "move"}
    d = start_daemon(tmp_path, str(inp), str(out), once=True, health=False, extra_env=env)
    assert d.wait_exit() == 4  # finished, bad.pdf failed
    assert not (inp / "ok.pdf").exists() and (inp / "done" / "ok.pdf").is_file()
    assert not (inp / "bad.pdf").exists() and (inp / "failed" / "bad.pdf").read_bytes() == b"%PDF-1.7 garbage"
    assert manifest(out, "ok.pdf")["status"] == "succeeded"
    assert manifest(out, "bad.pdf")["status"] == "failed"
    assert not (out / "done").exists()  # moved inputs are not picked up again


def test_sigterm_releases_the_document_and_next_start_completes_it(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    text = "Медленный документ для проверки остановки. " * 20
    pages = [make_scanned_pdf(tmp_path / f"p{i}.pdf", text=text).path for i in range(6)]
    merged = pymupdf.open()
    for p in pages:
        merged.insert_pdf(pymupdf.open(p))
    merged.save(inp / "slow scan.pdf")
    env = {"DOCWATCH_SHUTDOWN_GRACE_SECONDS": "0"}
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    wait_for(lambda: d.count("document.convert.start"), timeout=60, what="conversion start")
    # mid-conversion, liveness and readiness still answer at once
    started = time.monotonic()
    code, body = d.http("/healthz")
    assert code == 200 and json.loads(body)["status"] == "alive", body
    assert d.http("/readyz")[0] == 200
    assert time.monotonic() - started < 2
    assert d.stop(signal.SIGTERM) == 0
    m = manifest(out, "slow scan.pdf")
    assert m["status"] == "queued" and m["lease"] is None and m["attempts"] == 0
    assert d.count("document.released") == 1
    d2 = start_daemon(tmp_path, str(inp), str(out), once=True, extra_env=env, name="d2")
    assert d2.wait_exit(timeout=180) == 0
    m = manifest(out, "slow scan.pdf")
    assert m["status"] == "succeeded" and m["pages"]["total"] == 6 and m["attempts"] == 1


def test_retryable_failure_is_retried_then_fails_for_good(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    make_scanned_pdf(inp / "too slow.pdf")
    env = {"DOCWATCH_DOCUMENT_TIMEOUT_SECONDS": "0.3", "DOCWATCH_MAX_ATTEMPTS": "2"}
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env, health=False)
    try:
        m = wait_status(out, "too slow.pdf", timeout=120)
    finally:
        d.stop()
    assert m["status"] == "failed" and m["attempts"] == 2 and m["next_attempt_at"] is None
    assert m["error"]["type"] == "EngineFailure" and m["error"]["retryable"] is True
    assert "document_timeout_seconds" in m["error"]["message"]
    assert d.count("document.retry_scheduled") == 1


def test_engine_processes_do_not_outlive_a_killed_daemon(tmp_path: Path, dirs) -> None:
    import os
    import subprocess

    inp, out = dirs
    d = start_daemon(tmp_path, str(inp), str(out), health=False, extra_env={"DOCWATCH_CPU__PAGE_WORKERS": "2"})
    wait_for(lambda: d.count("engine.ready"), what="engine ready")
    scans = [make_scanned_pdf(tmp_path / f"s{i}.pdf").path for i in range(4)]
    merged = pymupdf.open()
    for p in scans:
        merged.insert_pdf(pymupdf.open(p))
    merged.save(inp / "busy.pdf")
    wait_for(lambda: d.count("document.convert.start"), what="conversion start")  # killed mid-document

    def children_of(pid: int) -> list[int]:
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True).stdout
        rows = [tuple(map(int, line.split())) for line in out.splitlines()]
        engine = [p for p, pp, _ in rows if pp == pid]
        return engine + [p for p, _, g in rows if g in engine and p not in engine]

    procs = children_of(d.proc.pid)
    assert len(procs) >= 2  # the engine child and its page workers
    d.proc.kill()
    d.proc.wait()

    def all_gone() -> bool:
        alive = []
        for p in procs:
            try:
                os.kill(p, 0)
                alive.append(p)
            except ProcessLookupError:
                pass
        return not alive

    wait_for(all_gone, timeout=20, what="engine processes to exit after kill -9 of the daemon")


def test_sigterm_finishes_the_document_in_hand_within_the_grace_period(tmp_path: Path, dirs) -> None:
    inp, out = dirs
    text = "Документ дочитывается до конца после сигнала. " * 12
    merged = pymupdf.open()
    for i in range(3):
        merged.insert_pdf(pymupdf.open(make_scanned_pdf(tmp_path / f"p{i}.pdf", text=text).path))
    merged.save(inp / "finish me.pdf")
    make_text_pdf(inp / "zz never started.pdf", ["Left for the next start."])
    d = start_daemon(tmp_path, str(inp), str(out), health=False, extra_env={"DOCWATCH_SHUTDOWN_GRACE_SECONDS": "120",
                                                                               "DOCWATCH_CONCURRENCY": "1"})
    wait_for(lambda: d.count("document.convert.start", key="finish me.pdf"), timeout=60, what="conversion start")
    assert d.stop(signal.SIGTERM, timeout=150) == 0
    m = manifest(out, "finish me.pdf")
    assert m["status"] == "succeeded" and m["pages"]["done"] == 3
    assert "после сигнала" in (out / "finish me.pdf" / "finish me.md").read_text()
    assert manifest(out, "zz never started.pdf") is None  # no new work after the signal


def test_figures_reach_the_outputs_through_their_checkpoints(tmp_path: Path, dirs) -> None:
    """Figure bytes leave the engine with their page, are kept in the page checkpoint and read
    back from there one by one at publish time (memory does not grow with the page count)."""
    from tests.docs import make_figure_pdf

    inp, out = dirs
    make_figure_pdf(inp / "figures.pdf")
    d = start_daemon(tmp_path, str(inp), str(out))
    try:
        m = wait_status(out, "figures.pdf")
    finally:
        assert d.stop() == 0
    assert m["status"] == "succeeded"
    figures = [o for o in m["outputs"] if "/images/" in o["key"]]
    assert figures, m["outputs"]
    md = (out / "figures.pdf" / "figures.md").read_text()
    for o in figures:
        data = (out / o["key"]).read_bytes()
        assert data.startswith(b"\x89PNG") and hashlib.sha256(data).hexdigest() == o["sha256"]
        assert o["key"].split("figures.pdf/", 1)[1] in md
    assert not (out / "figures.pdf" / "pages").exists()


def test_a_stage_undone_on_a_page_is_recorded_in_the_json_the_manifest_and_the_metrics(tmp_path: Path, dirs) -> None:
    from tests.docs_harm import make_broken_tounicode_code_pdf

    inp, out = dirs
    made = make_broken_tounicode_code_pdf(inp / "listing.pdf", seed=2)
    d = start_daemon(tmp_path, str(inp), str(out))
    try:
        m = wait_status(out, "listing.pdf")
        assert m["status"] == "succeeded"
        assert m["pages"]["fallbacks"] == {"text_layer": 1}
        metrics = d.http("/metrics")[1].decode()
        assert 'docwatch_page_fallbacks_total{stage="text_layer"} 1.0' in metrics
    finally:
        assert d.stop() == 0
    doc = json.loads((out / "listing.pdf" / "listing.json").read_text())
    (fallback,) = doc["pages"][0]["fallbacks"]
    assert fallback["stage"] == "text_layer" and fallback["score_before"] < 0.5 and fallback["score_after"] == 1.0
    assert all(b["confidence"] is not None for b in doc["pages"][0]["blocks"])
    md = (out / "listing.pdf" / "listing.md").read_text()
    assert ned(body(md), made.text) < 0.1
