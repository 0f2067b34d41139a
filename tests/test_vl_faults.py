"""The real daemon and the real paddleocr pipeline against a VL server having a bad day: 503s,
429s and a stall. No page is silently lost: a page is retried within the attempt; a document is
succeeded only when every page converted (or failed for a reason retrying cannot change);
otherwise it is retried later, and the next attempt converts only what is missing."""

from __future__ import annotations

import importlib.util
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.daemon_harness import start_daemon, wait_status
from tests.paddle_docs import make_pdf, stub_vl_env
from tests.vl_stub_server import StubVLServer

pytestmark = [
    pytest.mark.paddle,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None, reason="paddleocr is not installed"),
]

# One word per page tells the stub how to misbehave for it.
PAGES = [["STEADY page one"], ["FLAKY page two"], ["STALL page three"], ["BROKEN page four"]]


class BadDay:
    """FLAKY: 503 for its first 3 requests (one pipeline call, with the client's 2 retries),
    then fine: the page stream runs a page that broke its call once more alone, which gets the
    4th. STALL: the first request hangs far past the page budget. BROKEN: 429 for its first 12
    requests (two whole attempts' worth: an attempt tries it twice, page_retries=1, and each
    try is the stream's call plus the page alone, 3 requests each), then fine."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, text: str) -> str | None:
        # anything else is the engine's warm-up page (one per engine start)
        word = next((w for w in ("STEADY", "FLAKY", "STALL", "BROKEN") if w in text.upper()), "WARM-UP")
        with self.lock:
            self.seen[word] += 1
            n = self.seen[word]
        fault = None
        if word == "FLAKY" and n <= 3:
            fault = "503"
        elif word == "BROKEN" and n <= 12:
            fault = "429"
        elif word == "STALL" and n == 1:
            fault = "stall:150"
        if fault is None or fault.startswith("stall"):
            with self.lock:
                self.answered[word] += 1
        return fault


def test_vl_server_faults_lose_no_page_and_the_next_attempt_does_only_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "four pages.pdf").write_bytes(make_pdf(PAGES))
    bad_day = BadDay()
    with StubVLServer() as stub:
        stub.fault = bad_day
        env = stub_vl_env(
            stub.base_url, tmp_path / "pdx-cache",
            # pages leave the engine one by one (with merge_pages on they leave at the end)
            DOCWATCH_PADDLE__PAGES_IN_FLIGHT="1", DOCWATCH_PADDLE__MERGE_PAGES="false",
            DOCWATCH_PAGE_RETRIES="1",
            DOCWATCH_PAGE_TIMEOUT_SECONDS="15",  # 4 pages: the stalled attempt is cut at 60 s
            DOCWATCH_MAX_ATTEMPTS="3",
        )
        d = start_daemon(tmp_path, str(tmp_path / "in"), str(tmp_path / "out"), extra_env=env)
        try:
            m = wait_status(tmp_path / "out", "four pages.pdf", timeout=400)
        finally:
            assert d.stop() == 0

    assert m["status"] == "succeeded", m
    assert m["pages"] == {"total": 4, "done": 4, "failed": [], "fallbacks": {}}
    assert m["attempts"] == 3  # 1: cut off by the stall; 2: page 4 still refused; 3: page 4
    # every page was recognised exactly once with an answer the pipeline kept: what the first
    # attempts finished came from checkpoints afterwards, never from converting it again
    answered = {k: n for k, n in bad_day.answered.items() if k != "WARM-UP"}
    assert answered == {"STEADY": 1, "FLAKY": 1, "STALL": 2, "BROKEN": 1}, answered  # STALL: the hung one too
    converted = Counter(e["page"] for e in d.events() if e.get("event") == "page.converted" and e["status"] == "ok")
    assert converted == Counter({1: 1, 2: 1, 3: 1, 4: 1}), converted
    # attempt 1 was killed before it reported; pages 1 and 2 (its retry alone) were checkpointed
    # before the stall; attempt 2 added page 3
    resumed = [e["resumed_pages"] for e in d.events() if e.get("event") == "document.converted"]
    assert resumed == [2, 3], resumed
    md = (tmp_path / "out" / "four pages.pdf" / "four pages.md").read_text()
    for n, (text,) in enumerate(PAGES, start=1):
        assert f"<!-- page {n} -->" in md and text.split()[-1] in md
    assert not (tmp_path / "out" / "four pages.pdf" / "pages").exists()  # checkpoints tidied away
