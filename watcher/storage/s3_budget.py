"""A bound on one S3 call, all of it: botocore bounds each try (connect and read timeouts) and
counts the tries, but the tries and the back-off between them add up to many minutes. A retry
starts only while the call is younger than one try at its longest (connect + read timeout), so
a call takes at most two tries at their longest plus one back-off."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import HTTPClientError

_STARTED = "docwatch_started"
_BACKOFF_MAX = 20.0  # botocore's longest back-off between tries


class CallBudgetSpent(HTTPClientError):
    fmt = "S3 call given up after {seconds:.0f} s of tries (connect/read timeouts and retries)"


def call_seconds_at_most(connect_timeout: float, read_timeout: float) -> float:
    """The longest one call can take under ``bound_calls``."""
    return 2 * (connect_timeout + read_timeout) + _BACKOFF_MAX


def bound_calls(client: Any, connect_timeout: float, read_timeout: float) -> None:
    """Refuse a retry once the call has run for one try's timeouts (raised as a transient fault)."""
    one_try = connect_timeout + read_timeout

    def before_try(request: Any, **_: Any) -> None:
        context = request.context
        started = context.setdefault(_STARTED, time.monotonic())
        if (spent := time.monotonic() - started) > one_try:
            raise CallBudgetSpent(seconds=spent, error="retry budget spent")

    client.meta.events.register("request-created.s3", before_try)
