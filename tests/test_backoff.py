"""One back-off, with full jitter, for every retry loop: replicas that met the same outage do not
retry at the same instants when it ends."""

from __future__ import annotations

import time
from pathlib import Path

from processor.backoff import backoff
from tests.daemon_harness import free_port
from tests.s3_server import fake_aws_env
from tests.test_s3_daemon import Daemon


def test_each_wait_is_drawn_below_its_doubling_capped_bound():
    for attempt in range(1, 10):
        bound = min(60.0, 2.0 * 2 ** (attempt - 1))
        draws = [backoff(2.0, attempt, cap=60.0) for _ in range(200)]
        assert all(0 <= d <= bound for d in draws)
        assert max(draws) > 0.5 * bound and min(draws) < 0.5 * bound  # spread over the range, not fixed


def test_two_replicas_waiting_for_the_same_store_retry_at_different_instants(tmp_path: Path):
    fake_aws_env()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: both wait for the store
    replicas = [Daemon(dead, "bucket", tmp_path / f"{name}.log", name) for name in ("a", "b")]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(len(d.events("startup.storage_unavailable")) for d in replicas) < 3:
            time.sleep(0.5)
        waits = [[e["retry_in"] for e in d.events("startup.storage_unavailable")][:3] for d in replicas]
        assert all(len(w) == 3 for w in waits), waits
        assert waits[0] != waits[1], waits
    finally:
        for d in replicas:
            d.stop()
