"""A test engine: the real CPU engine, plus faults that a test can ask for.

Plugged in with ``DOCWATCH_ENGINE_CLASS=tests.fake_engine:FaultyEngine``. Words on a page
trigger what real engines do on bad days:

- ``KILL-ENGINE``: the engine process dies (SIGKILL), as on a native crash or an OOM kill;
- ``KILL-DAEMON``: the engine kills the daemon itself (SIGKILL), as when the whole container
  runs out of memory: the document's lease then simply expires;
- ``HANG-ENGINE``: the engine stops answering.

A JSON file named by ``DOCWATCH_FAKE_ENGINE_CONTROL`` changes how loading goes, read at each
load: ``{"load": "ok" | "fail" | "hang" | "first-only"}`` — so a test can let the first load
succeed and the reload after a crash fail (``first-only`` does both by itself).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Collection, Iterator
from pathlib import Path

from processor.engines.base import PageResult
from processor.engines.cpu import CpuEngine
from processor.errors import EngineUnavailable
from processor.source import OpenedInput


def _control() -> dict:
    path = os.environ.get("DOCWATCH_FAKE_ENGINE_CONTROL")
    if not path or not Path(path).exists():
        return {}
    return json.loads(Path(path).read_text() or "{}")


def _text(result: PageResult) -> str:
    return " ".join(b.text or "" for b in result.page.blocks)


class FaultyEngine(CpuEngine):
    def load(self) -> None:
        mode = _control().get("load", "ok")
        if mode == "first-only":
            marker = Path(os.environ["DOCWATCH_FAKE_ENGINE_CONTROL"] + ".loaded")
            mode = "fail" if marker.exists() else "ok"
            marker.touch()
        if mode == "fail":
            raise EngineUnavailable("fake engine: loading refused (as when GPU memory is still held)")
        if mode == "hang":
            time.sleep(3600)
        super().load()

    def pages(self, source: OpenedInput, only: Collection[int] | None = None) -> Iterator[PageResult]:
        for result in super().pages(source, only):
            text = _text(result)
            if "KILL-ENGINE" in text:
                os.kill(os.getpid(), signal.SIGKILL)
            if "KILL-DAEMON" in text:
                os.kill(os.getppid(), signal.SIGKILL)
                time.sleep(60)  # the kernel's parent-death signal ends us meanwhile
            if "HANG-ENGINE" in text:
                time.sleep(3600)
            yield result
