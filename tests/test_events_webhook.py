"""The webhook source: MinIO-format notifications POSTed to /events on the health port of a
real daemon (moto's S3 server plays MinIO's storage; the poll and reconciliation wait an hour)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote_plus

import pytest

try:
    from tests.daemon_harness import free_port
    from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401
    from tests.test_events_sqs import metric, succeeded
    from tests.test_s3_daemon import CONVERT_START, daemons, manifest, storage, text_pdf, wait_for  # noqa: F401
except ImportError:
    from daemon_harness import free_port  # type: ignore[no-redef]
    from s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # type: ignore[no-redef] # noqa: F401
    from test_events_sqs import metric, succeeded  # type: ignore[no-redef]
    from test_s3_daemon import (  # type: ignore[no-redef] # noqa: F401
        CONVERT_START, daemons, manifest, storage, text_pdf, wait_for,
    )

pytestmark = pytest.mark.slow
TOKEN = "wh-token-7c1f0e2b9d"


def minio_payload(bucket: str, key: str, etag: str, size: int, seq: str) -> bytes:
    """What MinIO's notify_webhook target POSTs for a PUT (fields as MinIO sends them)."""
    return json.dumps({
        "EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/in/{key}",
        "Records": [{
            "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "eventName": "s3:ObjectCreated:Put",
            "userIdentity": {"principalId": "minioadmin"}, "requestParameters": {"region": ""},
            "responseElements": {"x-amz-request-id": "17A9C0D0B4E6F3A1"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"},
                              "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": quote_plus(f"in/{key}", safe=""), "size": size, "eTag": etag,
                              "contentType": "application/pdf", "sequencer": seq}},
            "source": {"host": "10.0.0.5", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7"},
        }],
    }).encode()


def post(port: int, body: bytes, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/events", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_minio_webhook_brings_documents_in_and_wants_the_token(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    port = free_port()
    d = daemons(moto_s3.url, s3_bucket, "hook", DOCWATCH_POLL_INTERVAL="3600", DOCWATCH_RECONCILE_INTERVAL="3600",
                DOCWATCH_EVENTS__WEBHOOK_TOKEN=TOKEN, DOCWATCH_HEALTH_PORT=str(port), DOCWATCH_HEALTH_HOST="127.0.0.1")
    wait_for(lambda: bool(d.events("listing.reconciled")), 120, [d])  # the listing at start has run
    keys = ["from minio.pdf", "ü+ber.pdf"]
    bodies = []
    for n, key in enumerate(keys):
        inp.put(key, text_pdf(f"MinIO {key}"))
        info = inp.head(key)
        assert info
        bodies.append(minio_payload(s3_bucket, key, info.etag, info.size, f"17A9C0D0B4E6F3A{n}"))

    assert post(port, bodies[0], None)[0] == 401
    assert post(port, bodies[0], "wrong-token")[0] == 401
    assert post(port, bodies[0], TOKEN[:-1])[0] == 401
    time.sleep(3)
    assert manifest(out, keys[0]) is None, "an unauthorised call must not bring anything in"
    assert post(port, b"{not json", TOKEN)[0] == 400
    for body in bodies + bodies[:1]:  # the first again: a retried delivery
        assert post(port, body, TOKEN) == (200, {"accepted": 1})
    wait_for(succeeded(out, keys), 180, [d])
    time.sleep(2)
    assert sorted(e["key"] for e in d.events(CONVERT_START)) == sorted(keys)
    assert metric(port, "docwatch_intake_latency_seconds_count", source="webhook") == len(keys)
    assert metric(port, "docwatch_events_total", source="webhook", result="unauthorized") == 3
    assert metric(port, "docwatch_events_total", source="webhook", result="malformed") == 1
    assert TOKEN not in d.log.read_text(), "the token reached the log"


def test_a_pending_document_deleted_before_conversion_is_dropped(moto_s3: MotoS3, s3_bucket: str) -> None:
    """In process: uploaded, announced, deleted before the daemon got to it (it is still young:
    min_age holds it back), then the removal is announced: nothing is left to convert."""
    from pydantic import SecretStr

    from watcher.discovery import DoneIndex, KeyFilter
    from watcher.metrics import Metrics
    from watcher.sources.webhook import Webhook

    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    hook = Webhook(SecretStr(TOKEN), inp, KeyFilter(["*"], []), DoneIndex(out), Metrics(), min_age_seconds=3600)
    inp.put("short lived.pdf", b"%PDF-1.4 x")
    info = inp.head("short lived.pdf")
    assert info
    assert hook.handle(f"Bearer {TOKEN}", minio_payload(s3_bucket, "short lived.pdf", info.etag, info.size, "0A")) \
        == (200, {"accepted": 1})
    assert hook.poll() == [] and hook.pending == 1 and hook.unsettled == 1  # too young yet
    inp.delete("short lived.pdf")
    removed = json.loads(minio_payload(s3_bucket, "short lived.pdf", info.etag, info.size, "0B"))
    removed["Records"][0]["eventName"] = "s3:ObjectRemoved:Delete"
    assert hook.handle(f"Bearer {TOKEN}", json.dumps(removed).encode()) == (200, {"accepted": 0})
    assert hook.pending == 0 and hook.poll() == []
