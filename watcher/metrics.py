"""Prometheus metrics, on a registry of our own (no process-global state in tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ENGINE_STATES = ("loading", "ready", "down")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # process_* (CPU seconds, resident memory, open fds, start time) and python_info
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Info("docwatch_build", "docwatch's version, engine and pipeline version", registry=r)
        self.set_build_info(engine="unknown", pipeline_version="unknown")
        self.documents = Counter("docwatch_documents", "Documents finished, by status", ["status"], registry=r)
        self.pages = Counter("docwatch_pages", "Pages converted, by status", ["status"], registry=r)
        self.page_fallbacks = Counter(
            "docwatch_page_fallbacks", "Conversion stages undone because they lost or scrambled a page's text, by stage",
            ["stage"], registry=r,
        )
        self.stage_seconds = Histogram(
            "docwatch_stage_seconds",
            "Seconds spent per stage",
            ["stage"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )
        self.lease_renewals = Counter("docwatch_lease_renewals", "Lease renewals", ["result"], registry=r)
        self.retries = Counter(
            "docwatch_retries", "Retries: a storage stage tried again, or a document scheduled again", ["kind"], registry=r
        )
        self.skips = Counter("docwatch_claims_skipped", "Claims not taken, by reason", ["reason"], registry=r)
        self.queue_depth = Gauge("docwatch_queue_depth", "Inputs found by the last poll and not yet done", registry=r)
        self.engine_ready = Gauge("docwatch_engine_ready", "1 once the engine has loaded and warmed up", registry=r)
        self.polls = Counter("docwatch_polls", "Input listings, by result", ["result"], registry=r)
        self.events = Counter(
            "docwatch_events", "Event records by source and result (received, ignored, malformed, unauthorized)",
            ["source", "result"], registry=r,
        )
        self.intake_latency = Histogram(
            "docwatch_intake_latency_seconds", "Upload (event time, else last-modified) to claim, by source",
            ["source"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600), registry=r,
        )
        self.notifications = Counter(
            "docwatch_notifications", "Completion events sent, or failed to send (retried), by target",
            ["target", "result"], registry=r,
        )
        self.verify_mismatches = Counter(
            "docwatch_verify_mismatches", "Published outputs found not as their manifest records, and documents "
            "queued again to repair them (result: found, repaired)", ["result"], registry=r,
        )
        self.event_age = Gauge(
            "docwatch_event_oldest_age_seconds", "Age of the oldest event message in hand or just received (queue lag)",
            ["source"], registry=r,
        )
        self.oldest_queued_age = Gauge(
            "docwatch_oldest_queued_age_seconds",
            "Now minus the upload time (last-modified) of the oldest input version the last listing found "
            "not yet done; 0 when none waits",
            registry=r,
        )
        self.upload_to_result = Histogram(
            "docwatch_upload_to_result_seconds",
            "Upload (the input's last-modified) to its result recorded, by final status (succeeded, failed)",
            ["status"], buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400), registry=r,
        )
        self.failures = Counter(
            "docwatch_document_failures",
            "Document attempts recorded as failed, by error type (retried ones included)", ["error_type"], registry=r,
        )
        self.s3_requests = Counter(
            "docwatch_s3_requests", "S3 API calls (after botocore's own retries), by operation", ["operation"], registry=r,
        )
        self.s3_errors = Counter(
            "docwatch_s3_errors",
            "S3 API calls that ended in an error, by operation and error code (HTTP error code, or the "
            "exception's name when no answer came); NoSuchKey/404 and PreconditionFailed are answers "
            "docwatch expects", ["operation", "code"], registry=r,
        )
        self.ready = Gauge("docwatch_ready", "1 when the last /readyz answered 200", registry=r)
        self.readiness_changes = Counter(
            "docwatch_readiness_changes", "Times /readyz changed its answer (ready <-> not ready)", registry=r,
        )
        self._ready_last: bool | None = None
        self._ready_lock = threading.Lock()
        self._engine_state: Callable[[], str] = self._state_from_ready_gauge
        r.register(_EngineStateCollector(lambda: self._engine_state()))

    def _state_from_ready_gauge(self) -> str:
        """Until ``watch_engine`` is called: "ready" once the daemon set ``docwatch_engine_ready``."""
        return "ready" if self.engine_ready.collect()[0].samples[0].value else "loading"

    # -- set by the daemon ---------------------------------------------------------------------
    def set_build_info(self, engine: str, pipeline_version: str, version: str | None = None) -> None:
        """``docwatch_build_info{version,engine,pipeline_version} 1``; ``version`` defaults to the
        installed package's."""
        self.build_info.info({"version": version or _installed_version(), "engine": engine,
                              "pipeline_version": pipeline_version})

    def watch_engine(self, state: Callable[[], str]) -> None:
        """Read the engine's state at every scrape: ``state()`` returns one of ENGINE_STATES.
        ``docwatch_engine_ready`` follows it too (1 only while "ready")."""
        self._engine_state = state
        self.engine_ready.set_function(lambda: 1.0 if state() == "ready" else 0.0)

    def readiness(self, ok: bool) -> None:
        """One /readyz answer: ``docwatch_ready`` and, when it differs from the last, a change."""
        with self._ready_lock:
            if self._ready_last is not None and self._ready_last != ok:
                self.readiness_changes.inc()
            self._ready_last = ok
            self.ready.set(1 if ok else 0)

    def observe_upload_to_result(self, modified: datetime, status: str) -> None:
        self.upload_to_result.labels(status).observe(max((datetime.now(UTC) - modified).total_seconds(), 0.0))

    def observe_s3_client(self, client: Any) -> None:
        """Count every API call of a boto3 S3 client, and its errors, by operation (botocore's
        after-call / after-call-error events: once per call, after its retries)."""
        events = client.meta.events

        def after_call(http_response: Any, parsed: dict, model: Any, **_: Any) -> None:
            self.s3_requests.labels(model.name).inc()
            if http_response.status_code >= 300 and http_response.status_code != 304:
                code = (parsed.get("Error") or {}).get("Code") or str(http_response.status_code)
                self.s3_errors.labels(model.name, code).inc()

        def after_error(exception: Exception, **kwargs: Any) -> None:
            name = kwargs["event_name"].rsplit(".", 1)[-1]
            self.s3_requests.labels(name).inc()
            self.s3_errors.labels(name, type(exception).__name__).inc()

        events.register("after-call.s3", after_call, unique_id=f"docwatch-metrics-{id(self)}")
        events.register("after-call-error.s3", after_error, unique_id=f"docwatch-metrics-error-{id(self)}")


class _EngineStateCollector(Collector):
    """``docwatch_engine_state{state}``: 1 for the engine's current state, 0 for the others."""

    def __init__(self, state: Callable[[], str]) -> None:
        self._state = state

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("docwatch_engine_state", "Engine state: loading, ready or down", labels=["state"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._state()
        family = GaugeMetricFamily("docwatch_engine_state", "Engine state: loading, ready or down", labels=["state"])
        for state in ENGINE_STATES:
            family.add_metric([state], 1.0 if state == now else 0.0)
        yield family


def _installed_version() -> str:
    try:
        return metadata.version("docwatch")
    except metadata.PackageNotFoundError:
        return "unknown"
