"""What kills daemons, over real HTTP against moto: a whole-store outage, a network partition
past the lease. Each replica talks to S3 through its own fault proxy, so one can be cut off
alone."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request

import pytest

from tests.daemon_harness import free_port
from tests.fault_proxy import FaultProxy, FaultRates
from tests.test_s3_daemon import (  # noqa: F401 - fixtures
    CONVERT_START,
    MotoS3,
    all_succeeded,
    daemons,
    manifest,
    moto_s3,
    s3_bucket,
    slow_pdf,
    storage,
    text_pdf,
    wait_for,
)
from watcher.manifest import Status

pytestmark = pytest.mark.slow


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_60_s_outage_pauses_the_daemon_and_loses_nothing(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    proxy = FaultProxy(moto_s3.url).start()
    port = free_port()
    try:
        # few botocore retries, so the outage reaches the daemon's own code within seconds
        d = daemons(proxy.url, s3_bucket, "w", DOCWATCH_HEALTH_PORT=str(port), DOCWATCH_S3__MAX_ATTEMPTS="2")
        inp.put("first.pdf", text_pdf("before anything"))
        wait_for(all_succeeded(out, ["first.pdf"]), 120, [d])
        wait_for(lambda: http_status(port, "/readyz") == 200, 30, [d])

        before = [f"before/{i}.pdf" for i in range(3)]
        for key in before:
            inp.put(key, text_pdf(f"uploaded just before the outage {key}"))
        proxy.rates = FaultRates(slowdown=1.0)  # every request: 503 SlowDown
        outage_end = time.monotonic() + 60
        during = [f"during/{i}.pdf" for i in range(3)]
        for key in during:
            inp.put(key, text_pdf(f"uploaded during the outage {key}"))  # straight to the store
        wait_for(lambda: http_status(port, "/readyz") == 503, 50, [d])
        while time.monotonic() < outage_end:
            assert http_status(port, "/healthz") == 200 and d.proc.poll() is None
            time.sleep(2)
        assert proxy.stats.faults["slowdown"] > 10
        proxy.rates = FaultRates()

        keys = ["first.pdf", *before, *during]
        wait_for(all_succeeded(out, keys), 240, [d])
        wait_for(lambda: http_status(port, "/readyz") == 200, 60, [d])
        assert d.proc.poll() is None and len(d.events("daemon.start")) == 1  # never restarted
        assert d.events("poll.failed")
        for key in keys:
            m = manifest(out, key)
            assert m is not None and m.status is Status.SUCCEEDED, (key, m)
    finally:
        proxy.stop()


def test_a_replica_cut_off_past_its_lease_cannot_spoil_its_successors_outputs(
    moto_s3: MotoS3, s3_bucket: str, daemons
) -> None:
    """A is mid-document when every request it makes starts arriving 25 s late (lease 10 s).
    B takes over and succeeds; A, not yet knowing, publishes, and its late writes land after
    B's. Every succeeded manifest must still list outputs that exist with its sha256s."""
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    key = "partitioned.pdf"
    inp.put(key, slow_pdf(8))
    pa, pb = FaultProxy(moto_s3.url).start(), FaultProxy(moto_s3.url).start()
    try:
        a = daemons(pa.url, s3_bucket, "a", DOCWATCH_LEASE_SECONDS="10")
        wait_for(lambda: bool(a.events(CONVERT_START)), 120, [a])
        pa.rates = FaultRates(slow=1.0, slow_seconds=25)  # the partition: A's requests arrive late
        b = daemons(pb.url, s3_bucket, "b", DOCWATCH_LEASE_SECONDS="10")
        wait_for(all_succeeded(out, [key]), 240, [b])
        assert manifest(out, key).worker_id == "b"
        # A finishes converting meanwhile and publishes into the partition; wait until it has
        # heard back about everything it sent (its writes landed late, or were refused)
        # (every request of A's takes 25 s: its page checkpoints too, until it learns it lost)
        wait_for(lambda: bool(a.events("document.lease_lost") or a.events("document.fenced")), 420, [a, b])
        pa.rates = FaultRates()
        time.sleep(3)
        m = manifest(out, key)
        assert m is not None and m.status is Status.SUCCEEDED and m.worker_id == "b"
        for o in m.outputs:
            data, _ = out.get(o.key)
            assert hashlib.sha256(data).hexdigest() == o.sha256, f"{o.key} is not what the manifest lists"
        assert not a.events("document.succeeded")
        print("A's events:", [e["event"] for e in a.events() if e["event"].startswith(("document", "lease"))])
    finally:
        pa.stop()
        pb.stop()


def test_a_replica_started_during_an_outage_waits_for_the_store(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    """It once waited silently through botocore's retries, then exited 2 ('configuration
    refused'), so an orchestrator restarted it in a loop for the length of the outage."""
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("waiting.pdf", text_pdf("converted once the store answers"))
    proxy = FaultProxy(moto_s3.url, FaultRates(slowdown=1.0)).start()
    try:
        d = daemons(proxy.url, s3_bucket, "patient", DOCWATCH_S3__MAX_ATTEMPTS="2")
        wait_for(lambda: len(d.events("startup.storage_unavailable")) >= 2, 90, [d])
        proxy.rates = FaultRates()
        wait_for(all_succeeded(out, ["waiting.pdf"]), 180, [d])
        assert not d.events("startup.failed") and len(d.events("daemon.start")) == 1
        stopped = daemons(proxy.url, s3_bucket, "stopped", DOCWATCH_S3__MAX_ATTEMPTS="2")
        proxy.rates = FaultRates(slowdown=1.0)
        wait_for(lambda: bool(stopped.events("startup.storage_unavailable")), 90, [stopped])
        stopped.proc.send_signal(15)  # SIGTERM while it waits: a clean exit
        assert stopped.proc.wait(30) == 0
    finally:
        proxy.stop()


def test_a_store_refusing_connections_at_start_is_awaited_with_probes_answering(
    moto_s3: MotoS3, s3_bucket: str, daemons
) -> None:
    """Nothing listening at the S3 endpoint for 60 s at start (MinIO or a proxy restarting): it
    once exited at once ('is the URL right?') and the platform crash-looped it; the health
    endpoint started only after the store answered, so the startupProbe had nothing to ask."""
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("after.pdf", text_pdf("converted once the store listens"))
    store_port, health = free_port(), free_port()
    d = daemons(f"http://127.0.0.1:{store_port}", s3_bucket, "patient", DOCWATCH_HEALTH_PORT=str(health),
                DOCWATCH_S3__MAX_ATTEMPTS="2")

    def probes() -> tuple[int, int] | None:
        try:
            return http_status(health, "/healthz"), http_status(health, "/readyz")
        except (urllib.error.URLError, ConnectionError):
            return None

    wait_for(lambda: probes() is not None, 30, [d])
    refused_until = time.monotonic() + 60
    while time.monotonic() < refused_until:
        assert probes() == (200, 503) and d.proc.poll() is None
        time.sleep(1)
    waits = d.events("startup.storage_unavailable")
    assert len(waits) >= 3 and all(f"127.0.0.1:{store_port}" in w["endpoint"] for w in waits)
    assert "unavailable" in _readyz_body(health)  # readiness says why
    proxy = FaultProxy(moto_s3.url, port=store_port).start()  # the store comes up
    try:
        wait_for(all_succeeded(out, ["after.pdf"]), 180, [d])
        wait_for(lambda: probes() == (200, 200), 60, [d])
        assert not d.events("startup.failed") and len(d.events("daemon.start")) == 1
    finally:
        proxy.stop()


def _readyz_body(port: int) -> str:
    """The /readyz body (it answers 503 while not ready)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()
