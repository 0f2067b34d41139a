"""The lease renewer's heartbeat, in-process with a stand-in claim: a renewal that never returns
makes it stale within two periods; a renewer that ended because the lease was lost, or whose
document is finished, is no longer watched."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from watcher.heartbeat import Heartbeats
from watcher.lease import kept_alive
from watcher.metrics import Metrics

LEASE = 0.6  # a renewal every 0.2 s; stale after 0.4 s without a tick


class StandInClaim:
    def __init__(self, renew: callable) -> None:  # type: ignore[valid-type]
        self.lease_seconds, self.renew_faulted, self._renew = LEASE, False, renew
        self.manifest = SimpleNamespace(source=SimpleNamespace(key="doc.pdf"))

    def renew(self) -> bool:
        return self._renew()


def eventually(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_renewal_that_never_returns_goes_stale_and_a_finished_one_is_forgotten() -> None:
    beats, release = Heartbeats(), threading.Event()
    with kept_alive(StandInClaim(lambda: release.wait() or True), Metrics(), heartbeats=beats):  # type: ignore[arg-type]
        assert beats.stale() == [] and "lease renewer of doc.pdf" in beats.ages()
        assert eventually(lambda: beats.stale() != [])
        assert beats.stale()[0].startswith("lease renewer of doc.pdf has not ticked")
        release.set()
    assert beats.ages() == {} and beats.stale() == []


def test_a_renewer_that_lost_its_lease_is_not_watched_any_more() -> None:
    beats, renewals = Heartbeats(), []
    with kept_alive(StandInClaim(lambda: renewals.append(1) and False), Metrics(), heartbeats=beats):  # type: ignore[arg-type]
        assert eventually(lambda: len(renewals) == 1)
        time.sleep(4 * LEASE)  # the conversion goes on a while after the loss
        assert beats.stale() == [] and beats.ages() == {}
