"""Completion events, delivered at least once to SQS, SNS (→ SQS) and a signed webhook, from real
daemons: an outbox in the output store carries them across a kill -9."""

from __future__ import annotations

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from tests.daemon_harness import manifest, start_daemon, wait_for
from tests.docs import make_text_pdf
from tests.s3_server import MotoS3, moto_s3  # noqa: F401
from watcher.events import CompletionEvent
from watcher.notify.targets import signature

SECRET = "s3cret-for-tests"
pytestmark = pytest.mark.slow


class Receiver:
    """A webhook receiver on loopback that checks each request's signature and timestamp;
    ``hold``: requests wait (unanswered) until ``release`` is set."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.bad: list[str] = []
        self.hold, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers.get("X-Docwatch-Timestamp", "")
                expected = signature(SECRET.encode(), stamp, body)
                if not hmac.compare_digest(expected, self.headers.get("X-Docwatch-Signature", "")):
                    receiver.bad.append("signature")
                elif abs(time.time() - int(stamp)) > 300:
                    receiver.bad.append("stale timestamp")
                if receiver.hold.is_set():
                    receiver.release.wait(120)
                    return  # never answered: the connection just closes
                receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/docwatch-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def _queue(sqs, name: str) -> str:
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def _drain(sqs, url: str, want: int, timeout: float = 60) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def _outbox(out: Path) -> list[Path]:
    return sorted((out / ".docwatch").rglob("outbox/*.json")) + sorted(out.rglob("_docwatch/outbox/*.json"))


def test_final_manifests_send_one_event_to_each_target(tmp_path: Path, moto_s3: MotoS3):  # noqa: F811
    sqs = boto3.client("sqs", endpoint_url=moto_s3.url, region_name="us-east-1")
    sns = boto3.client("sns", endpoint_url=moto_s3.url, region_name="us-east-1")
    events_q, via_sns_q = _queue(sqs, "docwatch-events"), _queue(sqs, "via-sns")
    topic = sns.create_topic(Name="docwatch-done")["TopicArn"]
    arn = sqs.get_queue_attributes(QueueUrl=via_sns_q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    receiver = Receiver()
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    make_text_pdf(inp / "good.pdf", ["Announced when done."])
    (inp / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")
    try:
        d = start_daemon(tmp_path, str(inp), str(out), once=True, extra_env={
            "DOCWATCH_NOTIFY__SQS_QUEUE_URL": events_q, "DOCWATCH_NOTIFY__SNS_TOPIC_ARN": topic,
            "DOCWATCH_NOTIFY__WEBHOOK_URL": receiver.url, "DOCWATCH_NOTIFY__WEBHOOK_SECRET": SECRET,
            "DOCWATCH_NOTIFY__ENDPOINT_URL": moto_s3.url})
        d.wait_exit(180)
        direct = _drain(sqs, events_q, 2)
        via_sns = [json.loads(m["Message"]) for m in _drain(sqs, via_sns_q, 2)]
        wait_for(lambda: len(receiver.events) == 2, 30, what="two webhook events")
    finally:
        receiver.stop()
    assert not receiver.bad
    for delivered in (direct, via_sns, receiver.events):
        events = {e["input"]["key"]: CompletionEvent.model_validate(e) for e in delivered}
        assert {k: e.status for k, e in events.items()} == {"good.pdf": "succeeded", "broken.pdf": "failed"}
        assert events["broken.pdf"].error is not None and events["good.pdf"].outputs
        assert events["good.pdf"].manifest_key == "good.pdf/manifest.json"
    ids = [{e["input"]["key"]: e["event_id"] for e in d_} for d_ in (direct, via_sns, receiver.events)]
    assert ids[0] == ids[1] == ids[2]
    assert _outbox(out) == []  # cleared once delivered


def test_an_event_not_delivered_before_a_kill_9_is_sent_after_restart(tmp_path: Path, moto_s3: MotoS3):  # noqa: F811
    receiver = Receiver()
    receiver.hold.set()  # the first delivery never gets an answer
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    make_text_pdf(inp / "a.pdf", ["Announced after the crash."])
    env = {"DOCWATCH_NOTIFY__WEBHOOK_URL": receiver.url, "DOCWATCH_NOTIFY__WEBHOOK_SECRET": SECRET,
           "DOCWATCH_NOTIFY__SCAN_INTERVAL": "1"}
    try:
        d = start_daemon(tmp_path, str(inp), str(out), name="first", extra_env=env)
        wait_for(lambda: (manifest(out, "a.pdf") or {}).get("status") == "succeeded", 120, what="a.pdf done")
        wait_for(lambda: _outbox(out), 10, what="the event in the outbox")
        time.sleep(1.0)  # its delivery is under way, unanswered
        d.proc.kill()  # kill -9: the manifest is final, the event not delivered
        d.proc.wait(30)
        assert receiver.events == [] and len(_outbox(out)) == 1
        [pending] = _outbox(out)
        held_id = json.loads(pending.read_text())["event"]["event_id"]
        receiver.hold.clear()
        receiver.release.set()
        again = start_daemon(tmp_path, str(inp), str(out), name="second", extra_env=env)
        wait_for(lambda: receiver.events, 60, what="the event after the restart")
        wait_for(lambda: not _outbox(out), 30, what="the outbox cleared")
        again.stop()
    finally:
        receiver.stop()
    assert [e["event_id"] for e in receiver.events] == [held_id] and not receiver.bad
    assert receiver.events[0]["status"] == "succeeded"
