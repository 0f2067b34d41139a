"""The page watchdog, with the real daemon: a page that hangs is noticed after one page timeout,
whatever the document's length, and the retry converts the document once the hang is gone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.daemon_harness import start_daemon, wait_for, wait_status
from tests.docs import make_text_pdf

pytestmark = pytest.mark.slow
PAGE_TIMEOUT = 4.0


def test_a_hang_on_page_one_of_forty_is_given_up_after_one_page_timeout_and_retried(tmp_path: Path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    hang = tmp_path / "hang"
    hang.write_text("1")  # page 1 of every document hangs while this file says so
    env = {"DOCWATCH_ENGINE_CLASS": "tests.fixed_latency_engine:FixedLatencyEngine",
           "DOCWATCH_FIXED_ENGINE_SECONDS": "0.01", "DOCWATCH_FIXED_ENGINE_HANG": str(hang),
           "DOCWATCH_PAGE_TIMEOUT_SECONDS": str(PAGE_TIMEOUT), "DOCWATCH_MAX_ATTEMPTS": "3"}
    make_text_pdf(inp / "long.pdf", [f"Page {n} of forty." for n in range(1, 41)])
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    try:
        def logged(event: str) -> bool:
            return d.count(event, key="long.pdf") > 0

        wait_for(lambda: logged("document.convert.start"), timeout=120, what="the conversion to start")
        seen_start = time.monotonic()
        wait_for(lambda: logged("document.error"), timeout=60 * PAGE_TIMEOUT, what="the hang to be noticed")
        noticed = time.monotonic() - seen_start
        # the budget of 40 pages x 4 s would take 160 s; the watchdog takes one page timeout
        assert noticed < 4 * PAGE_TIMEOUT, f"the hang was noticed after {noticed:.0f} s"
        errors = [e for e in d.events() if e.get("event") == "document.error"]
        assert errors[0]["retryable"] is True and "page_timeout_seconds" in errors[0]["error"], errors[0]
        hang.unlink()  # whatever wedged the accelerator let go
        m = wait_status(out, "long.pdf", timeout=180)
        assert m["status"] == "succeeded" and m["pages"]["done"] == 40 and m["attempts"] >= 2
    finally:
        assert d.stop() == 0
