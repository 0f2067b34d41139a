"""watchdog on a local input folder: with a one-hour poll interval, a dropped file is converted
within the settle time plus a few seconds, and a file still being written is not taken early."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

try:
    from tests.daemon_harness import start_daemon, wait_for, wait_status
    from tests.test_s3_daemon import text_pdf
except ImportError:
    from daemon_harness import start_daemon, wait_for, wait_status  # type: ignore[no-redef]
    from test_s3_daemon import text_pdf  # type: ignore[no-redef]

pytestmark = pytest.mark.slow
SETTLE = 1.0
SLACK = 5.0  # seconds beyond the settle time: wake, list, claim on a loaded 2-core machine


def claimed_at(d, key: str) -> float | None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    for e in d.events():
        if e.get("event") == "document.claimed" and e.get("key") == key:
            return datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
    return None


def test_dropped_file_is_taken_within_settle_time_and_a_growing_file_is_not(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    d = start_daemon(tmp_path, str(inp), str(out), name="fs",
                     extra_env={"DOCWATCH_POLL_INTERVAL": "3600", "DOCWATCH_SETTLE_SECONDS": str(SETTLE)})
    try:
        wait_for(lambda: d.count("index.loaded"), timeout=120, what="daemon start")
        time.sleep(1)  # the listing at start has found the empty folder; the loop now sleeps an hour

        (inp / "dropped.pdf").write_bytes(text_pdf("dropped in"))
        written = time.time()
        wait_for(lambda: claimed_at(d, "dropped.pdf"), timeout=60, what="dropped.pdf claimed")
        took = claimed_at(d, "dropped.pdf") - written  # type: ignore[operator]
        assert SETTLE - 0.2 <= took <= SETTLE + SLACK, took
        assert wait_status(out, "dropped.pdf")["status"] == "succeeded"

        data = text_pdf("written slowly", pages=3)
        chunks = [data[i:i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
        with (inp / "slow.pdf").open("wb") as f:
            for chunk in chunks:  # a write every 0.5 s: never quiet for the settle time
                f.write(chunk)
                f.flush()
                time.sleep(SETTLE / 2)
        finished = time.time()
        wait_for(lambda: claimed_at(d, "slow.pdf"), timeout=60, what="slow.pdf claimed")
        assert claimed_at(d, "slow.pdf") >= finished + SETTLE - 0.6, "taken while still being written"  # type: ignore[operator]
        m = wait_status(out, "slow.pdf")
        assert m["status"] == "succeeded" and m["pages"]["total"] == 3 and m["attempts"] == 1
    finally:
        d.stop()
