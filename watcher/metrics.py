"""Prometheus metrics, on a registry of our own (no process-global state in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.documents = Counter("docwatch_documents", "Documents finished, by status", ["status"], registry=r)
        self.pages = Counter("docwatch_pages", "Pages converted, by status", ["status"], registry=r)
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
        self.verify_mismatches = Counter(
            "docwatch_verify_mismatches", "Published outputs found not as their manifest records, and documents "
            "queued again to repair them (result: found, repaired)", ["result"], registry=r,
        )
        self.event_age = Gauge(
            "docwatch_event_oldest_age_seconds", "Age of the oldest event message in hand or just received (queue lag)",
            ["source"], registry=r,
        )
