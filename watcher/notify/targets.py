"""Where completion events go: an SQS queue, an SNS topic, an HTTP webhook. Each target is a
function that sends one event's JSON or raises."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from botocore.config import Config

from watcher.events import CompletionEvent
from watcher.settings import NotifySettings, S3Settings
from watcher.storage.s3 import aws_session

Send = Callable[[bytes, CompletionEvent], None]
SIGNATURE_HEADER, TIMESTAMP_HEADER, ID_HEADER = "X-Docwatch-Signature", "X-Docwatch-Timestamp", "X-Docwatch-Event-Id"
_WEBHOOK_TIMEOUT = 10.0  # seconds; a slow receiver is retried, it never holds up a conversion


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``v1=`` HMAC-SHA256 of ``<timestamp>.<body>``: a receiver recomputes it and rejects a
    timestamp older than a few minutes, so a captured request cannot be replayed later."""
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def targets(settings: NotifySettings, s3: S3Settings) -> dict[str, Send]:
    out: dict[str, Send] = {}
    if settings.sqs_queue_url:
        sqs, queue = _client("sqs", settings, s3), settings.sqs_queue_url

        def to_sqs(body: bytes, event: CompletionEvent) -> None:
            extra = {"MessageGroupId": event.input.key, "MessageDeduplicationId": event.event_id} \
                if queue.endswith(".fifo") else {}
            sqs.send_message(QueueUrl=queue, MessageBody=body.decode(), MessageAttributes={
                "event_id": {"DataType": "String", "StringValue": event.event_id}}, **extra)

        out["sqs"] = to_sqs
    if settings.sns_topic_arn:
        sns, topic = _client("sns", settings, s3), settings.sns_topic_arn

        def to_sns(body: bytes, event: CompletionEvent) -> None:
            sns.publish(TopicArn=topic, Message=body.decode(), Subject="docwatch document.completed",
                        MessageAttributes={"event_id": {"DataType": "String", "StringValue": event.event_id},
                                           "status": {"DataType": "String", "StringValue": event.status}})

        out["sns"] = to_sns
    if settings.webhook_url:
        url, secret = settings.webhook_url, settings.webhook_secret

        def to_webhook(body: bytes, event: CompletionEvent) -> None:
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", ID_HEADER: event.event_id, TIMESTAMP_HEADER: timestamp}
            if secret is not None:
                headers[SIGNATURE_HEADER] = signature(secret.get_secret_value().encode(), timestamp, body)
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=_WEBHOOK_TIMEOUT) as response:  # noqa: S310 - the operator's URL
                if not 200 <= response.status < 300:
                    raise OSError(f"the webhook answered {response.status}")

        out["webhook"] = to_webhook
    return out


def _client(service: str, settings: NotifySettings, s3: S3Settings) -> Any:
    """Credentials as for S3 (boto3's chain, or the keys in S3Settings)."""
    session = aws_session(s3)
    config = Config(region_name=s3.region, retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=s3.connect_timeout, read_timeout=s3.read_timeout)
    return session.client(service, endpoint_url=settings.endpoint_url, config=config)
