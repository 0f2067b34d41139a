"""The engine process: loads the engine once, then converts every document the daemon sends,
several at once, each in its own thread (the engine shares its page workers or its pipeline
among them).

Wire format, both ways over one pipe: the daemon sends ``(job, path, name, skip)`` or ``None``
(close); we answer ``(None, "ready" | "load_error", payload)`` once, then ``(job, kind, payload)``
with kind ``opened`` (page count), ``page`` (a PageResult), ``done`` (the Document without
pages) or ``error`` (an ErrorInfo).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Collection
from multiprocessing.connection import Connection
from pathlib import Path

from processor.options import ConvertOptions

_PR_SET_PDEATHSIG = 1


def _kill_group(*_: object) -> None:
    """SIGTERM in the engine child: take the page workers along (they share our group)."""
    os.killpg(0, signal.SIGKILL)


def _term_when_parent_dies(parent_pid: int) -> None:
    """Linux: have the kernel send SIGTERM when the daemon dies, even by kill -9, so the
    engine and its workers never outlive it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the closed pipe still ends an idle child
    # The parent died before prctl took effect: we were re-parented. Compare with the pid we
    # were started by, never with 1: in a container the daemon itself is PID 1.
    if os.getppid() != parent_pid:
        _kill_group()


def serve(conn: Connection, options: ConvertOptions, parent_pid: int) -> None:
    # The parent decides when to stop; a terminal's Ctrl-C must not kill us mid-page. Our own
    # process group lets the parent kill page workers the engine may have started, too.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _kill_group)
    _term_when_parent_dies(parent_pid)
    from watcher.logs import configure_child_logging

    configure_child_logging()  # stdout is the JSON log: PyMuPDF and library logging too
    from processor.engines import create_engine
    from processor.errors import error_info

    sending = threading.Lock()  # job threads answer over the one pipe

    def send(*message: object) -> None:
        with sending:
            conn.send(message)

    try:
        engine = create_engine(options)
        engine.load()
        engine.warm_up()
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        send(None, "load_error", error_info(exc))
        return
    send(None, "ready", engine.info)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            request = None  # the parent is gone
        if request is None:
            engine.close()
            return
        threading.Thread(target=_job, args=(engine, options, send, *request), daemon=True,
                         name=f"job-{request[0]}").start()


def _job(engine, options: ConvertOptions, send, job: int, path: str, name: str, skip: Collection[int]) -> None:
    from processor.convert import convert
    from processor.errors import error_info

    try:
        # each page leaves as soon as it is done (the daemon checkpoints it); the Document
        # that ends the conversion then carries no pages of its own
        doc = convert(Path(path), options, engine=engine, name=name, skip=skip, keep_assets=False,
                      opened=lambda n: send(job, "opened", n), progress=lambda r, n: send(job, "page", r))
        send(job, "done", doc.model_copy(update={"pages": [], "assets": []}))
    except BaseException as exc:  # noqa: BLE001
        try:
            send(job, "error", error_info(exc))
        except OSError:
            pass  # the parent is gone
