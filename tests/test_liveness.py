"""Liveness that means alive, with the real daemon: a lease renewal that never comes back (an S3
endpoint that takes the request and never answers) turns /healthz 503 with the reason; a loop
that is healthy but busy (a long conversion, another document waiting for its slot) keeps it
200, and its heartbeat fresh."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.daemon_harness import DaemonProc, start_daemon, wait_for
from tests.docs import make_text_pdf
from tests.fault_proxy import FaultProxy
from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401

pytestmark = pytest.mark.slow
SLOW_ENGINE = {"DOCWATCH_ENGINE_CLASS": "tests.fixed_latency_engine:FixedLatencyEngine",
               "DOCWATCH_FIXED_ENGINE_SECONDS": "0.5", "DOCWATCH_LEASE_SECONDS": "6"}


def healthz(d: DaemonProc) -> tuple[int, dict]:
    assert d.proc.poll() is None, d.log_path.read_text()[-2000:]
    code, body = d.http("/healthz")
    return code, json.loads(body)


def converting(d: DaemonProc, key: str) -> bool:
    return d.count("document.convert.start", key=key) > 0


def test_a_lease_renewal_that_never_returns_fails_liveness(tmp_path: Path, moto_s3: MotoS3, s3_bucket: str):
    proxy = FaultProxy(moto_s3.url).start()
    try:
        local = tmp_path / "long.pdf"
        make_text_pdf(local, [f"Page {n}." for n in range(1, 201)])  # 100 s of engine time
        moto_s3.client().upload_file(str(local), s3_bucket, "in/long.pdf")
        env = {**SLOW_ENGINE, "DOCWATCH_S3__ENDPOINT_URL": proxy.url, "DOCWATCH_S3__ADDRESSING_STYLE": "path",
               "DOCWATCH_S3__CONNECT_TIMEOUT": "2", "DOCWATCH_S3__READ_TIMEOUT": "120"}
        d = start_daemon(tmp_path, f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/out/", extra_env=env)
        try:
            wait_for(lambda: converting(d, "long.pdf"), timeout=120, what="the conversion to start")
            assert healthz(d)[0] == 200
            proxy.rates.slow_seconds, proxy.rates.slow = 3600.0, 1.0  # takes every request, answers none
            held = time.monotonic()
            # the renewer ticks every 2 s (lease 6 s / 3); its bound is two periods
            code, body = wait_for(lambda: (h := healthz(d))[0] == 503 and h, timeout=60, what="liveness to fail")
            assert time.monotonic() - held < 30
            assert "lease renewer of long.pdf" in body["reason"], body
        finally:  # its storage calls are held for minutes: no graceful stop to wait for
            d.proc.kill()
            d.proc.wait(timeout=30)
    finally:
        proxy.rates.slow = 0.0
        proxy.stop()


def test_a_loop_busy_with_a_long_conversion_stays_alive_and_ticks(tmp_path: Path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    make_text_pdf(inp / "long.pdf", [f"Page {n}." for n in range(1, 41)])  # 20 s of engine time
    env = {**SLOW_ENGINE, "DOCWATCH_CONCURRENCY": "1"}
    d = start_daemon(tmp_path, str(inp), str(out), extra_env=env)
    try:
        wait_for(lambda: converting(d, "long.pdf"), timeout=120, what="the conversion to start")
        make_text_pdf(inp / "next.pdf", ["Waits for the one slot."])  # the loop waits for a slot meanwhile
        worst = 0.0
        while d.count("document.published", key="long.pdf") == 0:
            code, body = healthz(d)
            assert code == 200, body
            worst = max(worst, body["seconds_since_tick"]["loop"])
            time.sleep(0.5)
        # the loop ticks every half-second while it waits for the slot (and every poll otherwise)
        assert worst < 5, f"the loop went {worst} s without a tick"
        assert d.count("document.claimed", key="next.pdf") == 1 or wait_for(
            lambda: d.count("document.claimed", key="next.pdf"), timeout=60, what="the next document")
    finally:
        assert d.stop() == 0
