"""S3 event notifications, as S3, SNS, EventBridge and MinIO/Ceph deliver them.

Accepted bodies:
- S3 event records: ``{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name"},
  "object": {"key", "size", "eTag", "sequencer"}}}]}``; the key is URL-encoded as S3 sends it
  (``+`` for a space, ``%XX`` for other bytes). MinIO and Ceph send the same records (MinIO's
  event names carry an ``s3:`` prefix and its webhook body adds ``EventName``/``Key``);
- the same, wrapped in an SNS notification (``{"Type": "Notification", "Message": "<json>"}``);
- EventBridge ``Object Created`` / ``Object Deleted`` (``detail.object.key``, not encoded);
- S3's ``s3:TestEvent``, sent when a notification is configured.
Anything else is malformed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus


class MalformedEvent(ValueError):
    """A message that is not an S3 event notification in any format docwatch knows."""


class EventKind(StrEnum):
    CREATED = "created"
    REMOVED = "removed"
    TEST = "test"
    OTHER = "other"  # e.g. a restore or a tagging change: nothing to convert


@dataclass(frozen=True)
class ObjectEvent:
    kind: EventKind
    bucket: str = ""
    key: str = ""  # decoded, relative to the bucket
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    time: datetime | None = None


def parse_body(body: str | bytes) -> list[ObjectEvent]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from exc
    return parse_document(doc)


def parse_document(doc: Any) -> list[ObjectEvent]:
    if not isinstance(doc, dict):
        raise MalformedEvent("not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse_body(doc["Message"])  # SNS
    if doc.get("Event") == "s3:TestEvent":
        return [ObjectEvent(EventKind.TEST, bucket=str(doc.get("Bucket", "")))]
    if isinstance(doc.get("Records"), list):
        return [_record(r) for r in doc["Records"]]
    if doc.get("source") == "aws.s3" and "detail-type" in doc:
        return [_eventbridge(doc)]
    raise MalformedEvent("neither S3 event records, an SNS notification nor an EventBridge event")


def _record(record: Any) -> ObjectEvent:
    try:
        name = str(record["eventName"]).removeprefix("s3:")
        s3 = record["s3"]
        bucket, obj = str(s3["bucket"]["name"]), s3["object"]
        key = unquote_plus(str(obj["key"]))
    except (KeyError, TypeError) as exc:
        raise MalformedEvent(f"an S3 event record without {exc}") from exc
    kind = _kind(name.startswith("ObjectCreated"), name.startswith("ObjectRemoved"))
    return ObjectEvent(kind, bucket, key, _int(obj.get("size")), _etag(obj.get("eTag")),
                       _str(obj.get("sequencer")), _time(record.get("eventTime")))


def _eventbridge(doc: dict) -> ObjectEvent:
    try:
        detail = doc["detail"]
        bucket, obj = str(detail["bucket"]["name"]), detail["object"]
        key = str(obj["key"])
    except (KeyError, TypeError) as exc:
        raise MalformedEvent(f"an EventBridge S3 event without {exc}") from exc
    kind = _kind(doc["detail-type"] == "Object Created", doc["detail-type"] == "Object Deleted")
    return ObjectEvent(kind, bucket, key, _int(obj.get("size")), _etag(obj.get("etag")),
                       _str(obj.get("sequencer")), _time(doc.get("time")))


def _kind(created: bool, removed: bool) -> EventKind:
    return EventKind.CREATED if created else EventKind.REMOVED if removed else EventKind.OTHER


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) else None


def _str(v: Any) -> str | None:
    return str(v) if v not in (None, "") else None


def _etag(v: Any) -> str | None:
    return str(v).strip('"') if v not in (None, "") else None


def _time(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        at = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # some S3-compatible stores omit the zone


def newer(sequencer: str, than: str) -> bool:
    """S3's rule: compare sequencers as hex strings padded with zeros on the left to one length."""
    width = max(len(sequencer), len(than))
    return sequencer.upper().rjust(width, "0") > than.upper().rjust(width, "0")
