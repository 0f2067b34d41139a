"""The loop's heartbeat, in-process: a loop blocked in a storage call that never returns (a local
folder on a hung NFS mount) is not alive once it has not ticked within its bound, with the
reason; it is alive again once the call returns."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_daemon_stages import InProcessEngine, running, wait_for
from watcher.daemon import Daemon
from watcher.metrics import Metrics
from watcher.settings import Settings
from watcher.storage import LocalStorage, ObjectInfo

pytestmark = pytest.mark.slow


class HangingFolder(LocalStorage):
    """A listing hangs while ``hung`` is set, as on a mount whose server went away."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.hung, self.released, self.inside = threading.Event(), threading.Event(), threading.Event()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if self.hung.is_set():
            self.inside.set()
            self.released.wait()
        return super().list(prefix)


def test_a_loop_stuck_in_a_call_that_never_returns_is_not_alive(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    source, sink = HangingFolder(tmp_path / "in"), LocalStorage(tmp_path / "out", create=True)
    s = Settings(input=str(source.root), output=str(sink.root), poll_interval=0.2, lease_seconds=5, settle_seconds=0)
    d = Daemon(s, source, sink, InProcessEngine(), Metrics())  # type: ignore[arg-type]
    assert d.loop_bound == 60  # max(3 x 0.2 s, 5 s, 60 s): no storage call bound for a folder
    t = running(d)
    try:
        wait_for(lambda: "loop" in d.seconds_since_tick(), timeout=30)
        assert d.not_alive() is None
        source.hung.set()
        wait_for(source.inside.is_set, timeout=30)
        wait_for(lambda: d.not_alive() is not None, timeout=d.loop_bound + 60)
        assert "loop has not ticked" in (d.not_alive() or ""), d.not_alive()
        assert d.seconds_since_tick()["loop"] >= d.loop_bound
        source.hung.clear()
        source.released.set()  # the mount came back
        wait_for(lambda: d.not_alive() is None, timeout=30)
    finally:
        source.hung.clear()
        source.released.set()
        d.stop()
        t.join(30)
