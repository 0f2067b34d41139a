"""S3 event notifications POSTed to ``/events`` (MinIO's and Ceph's webhook targets).

The caller must send ``Authorization: Bearer <token>`` with the token from
``DOCWATCH_EVENTS__WEBHOOK_TOKEN``; anything else gets 401 (and the token is never logged).
A delivery is answered 200 once its objects were looked at; 503 when the store could not be
asked, so the sender retries (MinIO keeps undelivered events in its ``queue_dir``). Events
held in memory are lost with the process: the reconciliation listing finds those documents.
"""

from __future__ import annotations

import hmac

import structlog
from pydantic import SecretStr

from watcher.discovery import DoneIndex, KeyFilter
from watcher.metrics import Metrics
from watcher.sources.announced import Announced
from watcher.sources.s3_events import MalformedEvent, parse_body
from watcher.storage import StorageError
from watcher.storage.s3 import S3Storage

log = structlog.get_logger("docwatch")
MAX_BODY = 1024 * 1024  # a notification is a few KB; refuse anything absurd before reading it
PATH = "/events"


class Webhook(Announced):
    def __init__(self, token: SecretStr, storage: S3Storage, keys: KeyFilter, done: DoneIndex, metrics: Metrics,
                 *, min_age_seconds: float = 0.0) -> None:
        super().__init__("webhook", storage, keys, done, metrics, min_age_seconds=min_age_seconds)
        self._expected = f"Bearer {token.get_secret_value()}".encode()

    def handle(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, object]]:
        """One POST: (HTTP status, JSON answer)."""
        if not hmac.compare_digest((authorization or "").encode(), self._expected):
            self._count("unauthorized")
            log.warning("webhook.unauthorized", detail="missing or wrong bearer token")
            return 401, {"error": "unauthorized"}
        try:
            events = parse_body(body)
        except MalformedEvent as exc:
            self._count("malformed")
            log.warning("event.malformed", source=self.name, reason=str(exc), body=body[:200].decode(errors="replace"))
            return 400, {"error": f"not an S3 event notification: {exc}"}
        try:
            versions = self.accept(events)
        except StorageError as exc:
            log.warning("event.check_failed", source=self.name, error=str(exc))
            return 503, {"error": "storage unavailable; retry"}
        return 200, {"accepted": len(versions)}
