"""S3 event notifications from an SQS queue (direct, through SNS, or from EventBridge).

A message is deleted only once every version it announced is settled (claimed, found done
or recorded), so a replica that dies holding one leaves it to come back after the visibility
timeout. While held, its visibility is extended. Messages are received only when the daemon
has nothing from this queue in hand, so replicas sharing a queue share the work instead of
one replica hoarding messages while it converts; a message the daemon has not asked for within
a visibility period (it is busy with a long document, or its engine is down) is handed back
for another replica. A message that is not an S3 event in any
known format is logged once and deleted: it would never parse, and redriving it would only
log it again ``maxReceiveCount`` times before the dead-letter queue took it (the dead-letter
queue is for messages docwatch could not act on because storage failed, see deploy/).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from processor.backoff import backoff
from watcher.discovery import DoneIndex, KeyFilter
from watcher.metrics import Metrics
from watcher.settings import EventsSettings, S3Settings
from watcher.sources.announced import Announced
from watcher.sources.base import VersionKey
from watcher.sources.s3_events import MalformedEvent, parse_body
from watcher.storage import StorageError
from watcher.storage.s3 import S3Storage, aws_session

log = structlog.get_logger("docwatch")
_BODY_LOGGED = 200  # characters of a malformed body in its log line


@dataclass
class Held:
    receipt: str
    sent_at: float  # epoch seconds (SQS SentTimestamp)
    remaining: set[VersionKey] = field(default_factory=set)
    settled: set[VersionKey] = field(default_factory=set)
    resolving: bool = True  # its events are still being looked at


class SqsSource(Announced):
    def __init__(self, events: EventsSettings, s3: S3Settings, storage: S3Storage, keys: KeyFilter,
                 done: DoneIndex, metrics: Metrics, *, min_age_seconds: float = 0.0) -> None:
        super().__init__("sqs", storage, keys, done, metrics, min_age_seconds=min_age_seconds)
        assert events.sqs_queue_url
        self.queue_url, self.cfg = events.sqs_queue_url, events
        self._client = sqs_client(events, s3)
        self._held: dict[str, Held] = {}
        self._held_lock = threading.Lock()
        self._want = threading.Event()
        self._want.set()
        self._stopping = threading.Event()
        self._polled_at = time.monotonic()  # when the daemon last asked for versions
        self._thread = threading.Thread(target=self._run, name="sqs", daemon=True)

    def check(self) -> None:
        """At start: the queue exists and we may read it (a clear error, not a silent idle)."""
        try:
            self._client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot read the SQS queue {self.queue_url}: {exc}") from exc

    def start(self, wake: threading.Event) -> None:
        super().start(wake)
        self._thread.start()

    def stop(self) -> None:
        """Hand held messages back at once (visibility 0) rather than after their timeout."""
        self._stopping.set()
        self._want.set()
        with self._held_lock:
            held, self._held = self._held, {}
        self._change_visibility(held, 0)

    def poll(self):  # type: ignore[no-untyped-def]
        self._polled_at = time.monotonic()
        items = super().poll()
        if not items:
            self._want_if_idle()
        return items

    def settled(self, item, *, claimed: bool):  # type: ignore[no-untyped-def]
        at = super().settled(item, claimed=claimed)
        if not claimed:  # not ours to work on: the daemon is idle, take the next message
            self._want_if_idle()
        return at  # claimed: the daemon converts now and asks again when done

    def slot_freed(self) -> None:
        self._want_if_idle()  # the receiver takes more messages; their arrival wakes the daemon

    def _want_if_idle(self) -> None:
        with self._lock:  # the receiver clears under the same lock: no wake-up is lost
            if not self._pending:
                self._want.set()

    # -- the receiver thread -------------------------------------------------------
    def _run(self) -> None:
        faults, extended = 0, time.monotonic()
        every = max(self.cfg.sqs_visibility_seconds / 3, 1)
        while not self._stopping.is_set():
            if time.monotonic() - extended >= every:
                self._extend()
                extended = time.monotonic()
            if not self._want.wait(timeout=min(every, 5)):
                continue
            try:
                r = self._client.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=self.cfg.sqs_max_messages,
                    WaitTimeSeconds=self.cfg.sqs_wait_seconds, VisibilityTimeout=self.cfg.sqs_visibility_seconds,
                    MessageSystemAttributeNames=["SentTimestamp"],
                )
            except (ClientError, BotoCoreError) as exc:
                log.error("sqs.receive_failed", error_type=type(exc).__name__, error=str(exc))
                faults += 1
                self._stopping.wait(backoff(1.0, faults, cap=60.0))
                continue
            faults = 0
            messages = r.get("Messages", [])
            lag = max((time.time() - _sent_at(m) for m in messages), default=0.0)
            for message in messages:
                if self._stopping.is_set():
                    break  # not ours any more: it comes back after its visibility timeout
                self._handle(message)
            self._report_age(lag)
            with self._lock:
                if self._pending:
                    self._want.clear()  # until the daemon has taken what is in hand

    def _handle(self, message: dict[str, Any]) -> None:
        mid, receipt, body = message["MessageId"], message["ReceiptHandle"], message.get("Body", "")
        try:
            events = parse_body(body)
        except MalformedEvent as exc:
            self._count("malformed")
            log.warning("event.malformed", source=self.name, message_id=mid, reason=str(exc), body=body[:_BODY_LOGGED])
            self._delete(receipt)
            return
        with self._held_lock:
            self._held[mid] = held = Held(receipt, _sent_at(message))
        try:
            versions = self.accept(events, token=mid)
        except StorageError as exc:  # could not look at the object: the message comes back later
            log.warning("event.check_failed", source=self.name, message_id=mid, error=str(exc))
            with self._held_lock:
                self._held.pop(mid, None)
            return
        with self._held_lock:
            held.remaining = set(versions) - held.settled
            held.resolving = False
            done = not held.remaining
            if done:
                self._held.pop(mid, None)
        if done:
            self._delete(receipt)

    def _release(self, version: VersionKey, tokens: set[str]) -> None:
        finished = []
        with self._held_lock:
            for mid in tokens:
                held = self._held.get(mid)
                if held is None:
                    continue
                held.remaining.discard(version)
                held.settled.add(version)
                if not held.resolving and not held.remaining:
                    finished.append(self._held.pop(mid).receipt)
        for receipt in finished:
            self._delete(receipt)

    def _delete(self, receipt: str) -> None:
        try:
            self._client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except (ClientError, BotoCoreError) as exc:  # it comes back; its version is settled by then
            log.warning("sqs.delete_failed", error_type=type(exc).__name__, error=str(exc))

    def _extend(self) -> None:
        """Keep held messages hidden while the daemon gets to them; hand them back when it has
        not asked for a whole visibility period."""
        away = time.monotonic() - self._polled_at > self.cfg.sqs_visibility_seconds
        with self._held_lock:
            held = {mid: h for mid, h in self._held.items() if not h.resolving}
            if away:
                for mid in held:
                    del self._held[mid]
        if away and held:
            self.forget(set(held))
            log.info("sqs.handed_back", messages=len(held), detail="the daemon is busy; another replica may take them")
        self._change_visibility(held, 0 if away else self.cfg.sqs_visibility_seconds)
        self._report_age()

    def _change_visibility(self, held: dict[str, Held], seconds: int) -> None:
        items = list(held.items())
        for i in range(0, len(items), 10):
            entries = [{"Id": str(n), "ReceiptHandle": h.receipt, "VisibilityTimeout": seconds}
                       for n, (_, h) in enumerate(items[i:i + 10])]
            try:
                self._client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                log.warning("sqs.visibility_failed", error_type=type(exc).__name__, error=str(exc))

    def _report_age(self, received: float = 0.0) -> None:
        """The oldest of: the messages in hand, and those just received (their queue lag)."""
        with self._held_lock:
            held = max((time.time() - h.sent_at for h in self._held.values()), default=0.0)
        self.metrics.event_age.labels(self.name).set(max(held, received, 0.0))


def _sent_at(message: dict[str, Any]) -> float:
    return int(message.get("Attributes", {}).get("SentTimestamp", time.time() * 1000)) / 1000


def sqs_client(events: EventsSettings, s3: S3Settings) -> Any:
    """Credentials as for S3 (boto3's chain, or the keys in S3Settings); the endpoint from
    ``events.sqs_endpoint_url``, else AWS_ENDPOINT_URL(_SQS) via boto3 itself."""
    session = aws_session(s3)
    config = Config(
        region_name=s3.region or _region_of(events.sqs_queue_url or ""),
        retries={"mode": s3.retry_mode, "max_attempts": s3.max_attempts},  # type: ignore[typeddict-item]
        connect_timeout=s3.connect_timeout,
        read_timeout=max(s3.read_timeout, events.sqs_wait_seconds + 10),  # a long poll is not a stall
    )
    return session.client("sqs", endpoint_url=events.sqs_endpoint_url, config=config)


def _region_of(queue_url: str) -> str | None:
    m = re.match(r"https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com", queue_url)
    return m.group(1) if m else None
