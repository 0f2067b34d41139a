"""Event-driven intake over real HTTP: moto's S3 server delivers bucket notifications to its
SQS queue (with ``s3:TestEvent`` and URL-encoded keys); real ``docwatch run`` subprocesses with
a one-hour poll and reconciliation interval, so only events can bring a document in after
the listing at start.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import Counter

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

try:
    from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401
    from tests.test_s3_daemon import CONVERT_START, Daemon, daemons, manifest, storage, text_pdf, wait_for  # noqa: F401
except ImportError:
    from s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # type: ignore[no-redef] # noqa: F401
    from test_s3_daemon import (  # type: ignore[no-redef] # noqa: F401
        CONVERT_START, Daemon, daemons, manifest, storage, text_pdf, wait_for,
    )
from watcher.manifest import Status

try:
    from tests.daemon_harness import free_port
except ImportError:
    from daemon_harness import free_port  # type: ignore[no-redef]

pytestmark = pytest.mark.slow
HOUR = "3600"


def sqs(moto: MotoS3):  # type: ignore[no-untyped-def]
    return boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1")


def new_queue(moto: MotoS3) -> tuple[str, str]:
    client = sqs(moto)
    url = client.create_queue(QueueName=f"dw-{uuid.uuid4().hex[:16]}")["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def notify(moto: MotoS3, bucket: str, queue_arn: str) -> None:
    """As an operator would: every create and delete in the bucket (outputs included) to the queue."""
    moto.client().put_bucket_notification_configuration(  # type: ignore[attr-defined]
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]},
    )


def queue_empty(moto: MotoS3, url: str) -> bool:
    attrs = sqs(moto).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def event_daemon(daemons, moto: MotoS3, bucket: str, queue_url: str, worker: str, **env: str) -> tuple[Daemon, int]:  # type: ignore[no-untyped-def]
    port = free_port()
    d = daemons(moto.url, bucket, worker, DOCWATCH_POLL_INTERVAL=HOUR, DOCWATCH_RECONCILE_INTERVAL=HOUR,
                DOCWATCH_EVENTS__SQS_QUEUE_URL=queue_url, AWS_ENDPOINT_URL=moto.url,  # SQS finds moto as S3 does
                DOCWATCH_EVENTS__SQS_WAIT_SECONDS="2", DOCWATCH_HEALTH_PORT=str(port),
                DOCWATCH_HEALTH_HOST="127.0.0.1", **env)
    wait_for(lambda: bool(d.events("listing.reconciled")), 120, [d])  # the listing at start has run
    return d, port


def metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def succeeded(out, keys: list[str]):  # type: ignore[no-untyped-def]
    return lambda: all((m := manifest(out, k)) is not None and m.status is Status.SUCCEEDED for k in keys)


def test_notifications_alone_bring_documents_in(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    url, arn = new_queue(moto_s3)
    notify(moto_s3, s3_bucket, arn)  # moto sends s3:TestEvent now: ignored
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    d, port = event_daemon(daemons, moto_s3, s3_bucket, url, "ev")
    keys = ["a b.pdf", "ünïcødé/Тест файл.pdf", "c+d.pdf", "sub dir/e f+g%20h.pdf"]
    for key in keys:
        inp.put(key, text_pdf(f"Evented {key}"), content_type="application/pdf")
    moto_s3.client().put_object(Bucket=s3_bucket, Key="elsewhere/x.pdf", Body=text_pdf("not ours"))  # type: ignore[attr-defined]
    inp.put("skipped.tmp", b"filtered out")
    wait_for(succeeded(out, keys), 180, [d])
    for key in keys:
        m = manifest(out, key)
        assert m is not None and m.source.key == key and m.attempts == 1
    assert sorted(e["key"] for e in d.events(CONVERT_START)) == sorted(keys)
    # every claim came through the queue (the poll and reconciliation wait an hour)
    assert metric(port, "docwatch_intake_latency_seconds_count", source="sqs") == len(keys)
    assert metric(port, "docwatch_intake_latency_seconds_count", source="listing") == 0

    inp.delete("a b.pdf")  # ObjectRemoved: not an error
    wait_for(lambda: queue_empty(moto_s3, url), 60, [d])
    assert d.events("event.object_removed")[0]["key"] == "a b.pdf"
    assert metric(port, "docwatch_events_total", source="sqs", result="ignored") >= 4  # test event, outputs, .tmp, elsewhere
    assert not d.events("event.malformed") and not [e for e in d.events() if e.get("level") == "error"]
    assert out.head("skipped.tmp/manifest.json") is None
    # nothing waits in the queue: the oldest message seen is seconds old, not a backlog
    assert 0 <= metric(port, "docwatch_event_oldest_age_seconds", source="sqs") < 10


def s3_body(bucket: str, key: str, etag: str, size: int, seq: str, name: str = "ObjectCreated:Put") -> str:
    from urllib.parse import quote_plus

    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": name, "s3": {"bucket": {"name": bucket},
                                  "object": {"key": quote_plus(f"in/{key}", safe=""), "size": size, "eTag": etag, "sequencer": seq}},
    }]})


def test_duplicates_out_of_order_malformed_and_gone(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    """Messages as S3, SNS and EventBridge send them, put on the queue by hand so their order is ours."""
    url, _ = new_queue(moto_s3)
    client = sqs(moto_s3)
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    d, port = event_daemon(daemons, moto_s3, s3_bucket, url, "seq")
    inp.put("seq.pdf", text_pdf("version one"))
    v1 = inp.head("seq.pdf")
    inp.put("seq.pdf", text_pdf("version two, longer"))
    v2 = inp.head("seq.pdf")
    assert v1 and v2 and v1.etag != v2.etag
    newer_body = s3_body(s3_bucket, "seq.pdf", v2.etag, v2.size, "00000000000000000B")
    for body in (newer_body, newer_body,  # a duplicate
                 s3_body(s3_bucket, "seq.pdf", v1.etag, v1.size, "00000000000000000A"),  # late, older
                 "this is not json", json.dumps({"unexpected": "shape"}),
                 s3_body(s3_bucket, "gone.pdf", "0" * 32, 10, "01")):  # deleted before we looked
        client.send_message(QueueUrl=url, MessageBody=body)
    inp.put("wrapped one.pdf", text_pdf("via SNS"))
    w = inp.head("wrapped one.pdf")
    assert w
    client.send_message(QueueUrl=url, MessageBody=json.dumps(
        {"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:1:t",
         "Message": s3_body(s3_bucket, "wrapped one.pdf", w.etag, w.size, "02")}))
    inp.put("bridged+one.pdf", text_pdf("via EventBridge"))
    client.send_message(QueueUrl=url, MessageBody=json.dumps(
        {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "time": "2026-11-27T10:00:00Z",
         "detail": {"bucket": {"name": s3_bucket}, "object": {"key": "in/bridged+one.pdf", "size": 1}}}))
    keys = ["seq.pdf", "wrapped one.pdf", "bridged+one.pdf"]
    wait_for(succeeded(out, keys), 180, [d])
    wait_for(lambda: queue_empty(moto_s3, url), 60, [d])
    time.sleep(2)  # a second conversion, if any, would have started
    assert Counter(e["key"] for e in d.events(CONVERT_START)) == Counter(keys)
    m = manifest(out, "seq.pdf")
    assert m is not None and m.source.etag == v2.etag and m.attempts == 1  # the older event never overrode it
    assert len(d.events("event.malformed")) == 2  # logged once each, and deleted (the queue is empty)
    assert [e["key"] for e in d.events("event.object_gone")] == ["gone.pdf"]
    assert manifest(out, "gone.pdf") is None
    assert metric(port, "docwatch_events_total", source="sqs", result="malformed") == 2
    # the late, older event was known for stale by its sequencer (never looked up: a HEAD would
    # have found v2 anyway, which is why the manifest alone cannot tell)
    assert [(e["key"], e["sequencer"]) for e in d.events("event.stale")] == [("seq.pdf", "00000000000000000A")]
    assert metric(port, "docwatch_events_total", source="sqs", result="stale") == 1
    assert not [e for e in d.events() if e.get("level") == "error"]


def test_two_replicas_share_one_queue_exactly_once(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    url, arn = new_queue(moto_s3)
    notify(moto_s3, s3_bucket, arn)
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    ds = [event_daemon(daemons, moto_s3, s3_bucket, url, f"r{n}")[0] for n in range(2)]
    keys = [f"shared/doc {i:02d}.pdf" for i in range(8)]
    for key in keys:  # each written twice with the same bytes: two notifications for one version
        inp.put(key, text_pdf(f"Shared {key}"))
        inp.put(key, text_pdf(f"Shared {key}"))
    wait_for(succeeded(out, keys), 240, ds)
    wait_for(lambda: queue_empty(moto_s3, url), 60, ds)
    time.sleep(2)
    starts = Counter(e["key"] for d in ds for e in d.events(CONVERT_START))
    assert starts == Counter(keys), "each document converted exactly once"
    for key in keys:
        m = manifest(out, key)
        assert m is not None and m.attempts == 1
    print("conversions per replica:", {d.worker: len(d.events(CONVERT_START)) for d in ds})


def test_a_busy_daemon_hands_its_message_back(moto_s3: MotoS3, s3_bucket: str) -> None:
    """In process: the source receives a message, the daemon does not ask for a visibility
    period (a long document, a dead engine), so the message goes back to the queue for others."""
    import threading

    from watcher.discovery import DoneIndex, KeyFilter
    from watcher.metrics import Metrics
    from watcher.settings import EventsSettings, S3Settings
    from watcher.sources.sqs import SqsSource

    url, _ = new_queue(moto_s3)
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    inp.put("waiting.pdf", b"%PDF-1.4 x")
    info = inp.head("waiting.pdf")
    assert info
    sqs(moto_s3).send_message(QueueUrl=url, MessageBody=s3_body(s3_bucket, "waiting.pdf", info.etag, info.size, "01"))
    settings = S3Settings(endpoint_url=moto_s3.url, addressing_style="path")
    events = EventsSettings(sqs_queue_url=url, sqs_endpoint_url=moto_s3.url, sqs_wait_seconds=1, sqs_visibility_seconds=5)
    done = DoneIndex(out)
    done.refresh()
    metrics = Metrics()
    source = SqsSource(events, settings, inp, KeyFilter(["*"], []), done, metrics)
    time.sleep(2)  # the message waits in the queue before anyone reads it
    source.start(threading.Event())
    try:
        wait_for(lambda: source.pending == 1, 30)
        assert metrics.registry.get_sample_value("docwatch_event_oldest_age_seconds", {"source": "sqs"}) >= 2
        assert not queue_empty(moto_s3, url)  # held: in flight
        wait_for(lambda: source.pending == 0, 30)  # not asked for 5 s: handed back
        attrs = sqs(moto_s3).get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"  # visible again, at once
        assert [i.key for i in source.poll()] == []  # the daemon asks again: it is taken anew
        wait_for(lambda: source.pending == 1, 30)
        (item,) = source.poll()
        source.settled(item, claimed=True)
        wait_for(lambda: queue_empty(moto_s3, url), 30)
    finally:
        source.stop()


def test_a_version_not_ours_to_take_does_not_stall_the_queue(moto_s3: MotoS3, s3_bucket: str) -> None:
    """In process: the daemon's claim finds a version busy or done elsewhere (no work, so it goes
    back to sleep for its whole poll interval); the source must take the next message anyway."""
    import threading

    from watcher.discovery import DoneIndex, KeyFilter
    from watcher.metrics import Metrics
    from watcher.settings import EventsSettings, S3Settings
    from watcher.sources.sqs import SqsSource

    url, _ = new_queue(moto_s3)
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    settings = S3Settings(endpoint_url=moto_s3.url, addressing_style="path")
    events = EventsSettings(sqs_queue_url=url, sqs_endpoint_url=moto_s3.url, sqs_wait_seconds=1)
    done = DoneIndex(out)
    done.refresh()
    source = SqsSource(events, settings, inp, KeyFilter(["*"], []), done, Metrics())
    for n, key in enumerate(["busy elsewhere.pdf", "next.pdf"]):
        inp.put(key, b"%PDF-1.4 " + key.encode())
        info = inp.head(key)
        assert info
        sqs(moto_s3).send_message(QueueUrl=url, MessageBody=s3_body(s3_bucket, key, info.etag, info.size, f"0{n}"))
    source.start(threading.Event())
    try:
        wait_for(lambda: source.pending == 1, 30)
        (first,) = source.poll()
        source.settled(first, claimed=False)  # Skip: another replica has it; no poll follows for an hour
        wait_for(lambda: source.pending == 1, 30)
        assert [i.key for i in source.poll()] != [first.key]
    finally:
        source.stop()


def test_a_message_held_past_its_visibility_timeout_is_not_redelivered(moto_s3: MotoS3, s3_bucket: str, daemons) -> None:
    """The object is too young to take (min_age 15 s) while the visibility timeout is 5 s: the
    daemon holds the message three periods, extending it, and another consumer of the queue never
    receives it meanwhile; then the document is converted and the message deleted."""
    url, _ = new_queue(moto_s3)
    client = sqs(moto_s3)
    inp, out = storage(moto_s3.url, s3_bucket, "in/"), storage(moto_s3.url, s3_bucket, "out/")
    d, port = event_daemon(daemons, moto_s3, s3_bucket, url, "holder", DOCWATCH_MIN_AGE_SECONDS="15",
                           DOCWATCH_EVENTS__SQS_VISIBILITY_SECONDS="5")
    inp.put("young.pdf", text_pdf("too young to take yet"))
    info = inp.head("young.pdf")
    assert info
    client.send_message(QueueUrl=url, MessageBody=s3_body(s3_bucket, "young.pdf", info.etag, info.size, "01"))
    wait_for(lambda: metric(port, "docwatch_events_total", source="sqs", result="received") >= 1, 30, [d])
    stolen = []
    while manifest(out, "young.pdf") is None:  # another replica keeps asking the queue
        stolen += client.receive_message(QueueUrl=url, WaitTimeSeconds=1, VisibilityTimeout=30).get("Messages", [])
        assert d.proc.poll() is None
    assert not stolen, "the held message was delivered to another consumer"
    wait_for(succeeded(out, ["young.pdf"]), 120, [d])
    wait_for(lambda: queue_empty(moto_s3, url), 30, [d])
