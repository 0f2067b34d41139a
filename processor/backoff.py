"""One back-off for every retry loop: exponential, capped, with full jitter.

Full jitter (a uniform draw between 0 and the exponential bound) keeps replicas that met the same
outage from retrying at the same instants when it ends.
"""

from __future__ import annotations

import random

_rng = random.SystemRandom()  # not seeded alike in forked or identically started replicas


def backoff(first: float, attempt: int, cap: float = float("inf")) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry): uniform in
    [0, min(cap, first * 2 ** (attempt - 1))]."""
    return _rng.uniform(0.0, min(cap, first * 2 ** max(attempt - 1, 0)))
