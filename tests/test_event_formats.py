"""S3 event notification bodies in every format docwatch accepts, and what it refuses: fast, no daemon."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from watcher.sources.s3_events import EventKind, MalformedEvent, newer, parse_body


def s3_record(key: str, name: str = "ObjectCreated:Put", seq: str | None = "0055AED6DCD90281E5") -> dict:
    obj = {"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e"}
    if seq:
        obj["sequencer"] = seq
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-11-27T10:00:00.000Z",
            "eventName": name, "s3": {"bucket": {"name": "bkt"}, "object": obj}}


def test_s3_records_keys_are_url_decoded_as_s3_sends_them() -> None:
    body = json.dumps({"Records": [s3_record("in/a+b%2Bc+%C3%A9t%C3%A9.pdf"), s3_record("in%2Fx%20y.pdf")]})
    first, second = parse_body(body)
    assert first.kind is EventKind.CREATED and first.bucket == "bkt"
    assert first.key == "in/a b+c été.pdf"  # '+' is a space, '%2B' a plus
    assert second.key == "in/x y.pdf"
    assert first.size == 1024 and first.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert first.sequencer == "0055AED6DCD90281E5"
    assert first.time == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_sns_wrapped_minio_and_removed() -> None:
    inner = json.dumps({"Records": [s3_record("k.pdf", "ObjectRemoved:Delete")]})
    (removed,) = parse_body(json.dumps({"Type": "Notification", "MessageId": "m", "Message": inner}))
    assert removed.kind is EventKind.REMOVED and removed.key == "k.pdf"
    minio = {"EventName": "s3:ObjectCreated:Put", "Key": "bkt/in/a b.pdf",
             "Records": [s3_record("in/a+b.pdf", "s3:ObjectCreated:Put")]}
    (created,) = parse_body(json.dumps(minio).encode())
    assert created.kind is EventKind.CREATED and created.key == "in/a b.pdf"
    (other,) = parse_body(json.dumps({"Records": [s3_record("k.pdf", "ObjectTagging:Put")]}))
    assert other.kind is EventKind.OTHER


def test_eventbridge_object_created_key_is_not_encoded() -> None:
    body = {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "time": "2026-11-27T10:00:00Z",
            "detail": {"bucket": {"name": "bkt"}, "object": {"key": "in/a+b c.pdf", "size": 5, "etag": "e1",
                                                              "sequencer": "00AB"}}}
    (event,) = parse_body(json.dumps(body))
    assert (event.kind, event.key, event.size, event.etag, event.sequencer) == (
        EventKind.CREATED, "in/a+b c.pdf", 5, "e1", "00AB")
    body["detail-type"] = "Object Deleted"
    assert parse_body(json.dumps(body))[0].kind is EventKind.REMOVED


def test_test_event_is_recognised() -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-27T10:00:00Z", "Bucket": "bkt"}
    assert parse_body(json.dumps(body))[0].kind is EventKind.TEST


@pytest.mark.parametrize("body", [
    "not json", "[1, 2]", "{}", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
    json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]}),
    json.dumps({"Type": "Notification", "Message": "{broken"}),
    json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
    b"\xff\xfe",
])
def test_malformed_bodies_are_refused(body: str | bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_body(body)


def test_sequencers_compare_as_padded_hex() -> None:
    assert newer("0055AED6DCD90281E6", "0055AED6DCD90281E5")
    assert newer("100", "FF")  # longer after padding: larger
    assert not newer("00FF", "0100")
    assert not newer("00ab", "00AB")
