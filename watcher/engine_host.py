"""The engine runs in a child process.

Why: inference holds the CPU (and, in native code, the GIL) for seconds at a time; in a
child it can never starve the health endpoint or lease renewals, and a crash or hang in
native code costs one document, not the daemon. The engine loads once per child.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import structlog

from processor.document import Document, EngineInfo, ErrorInfo
from processor.errors import ConversionError, EngineFailure, EngineUnavailable, error_info
from processor.options import ConvertOptions

log = structlog.get_logger("docwatch.engine")


class Interrupted(Exception):
    """The conversion was abandoned because the daemon is stopping."""


def _kill_group(*_: object) -> None:
    """SIGTERM in the engine child: take the page workers along (they share our group)."""
    os.killpg(0, signal.SIGKILL)


def _term_when_parent_dies() -> None:
    """Linux: have the kernel send SIGTERM when the daemon dies, even by kill -9, so the
    engine and its workers never outlive it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the closed pipe still ends an idle child
    if os.getppid() == 1:  # the parent died before prctl took effect
        _kill_group()


_PR_SET_PDEATHSIG = 1


def _serve(conn: Connection, options: ConvertOptions) -> None:
    # The parent decides when to stop; a terminal's Ctrl-C must not kill us mid-page. Our own
    # process group lets the parent kill page workers the engine may have started, too.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _kill_group)
    _term_when_parent_dies()
    from watcher.logs import configure_child_logging

    configure_child_logging()  # stdout is the JSON log: PyMuPDF and library logging too
    from processor.convert import convert
    from processor.engines import create_engine

    try:
        engine = create_engine(options)
        engine.load()
        engine.warm_up()
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        conn.send(("load_error", error_info(exc)))
        return
    conn.send(("ready", engine.info))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            request = None  # the parent is gone
        if request is None:
            engine.close()
            return
        data, name = request
        try:
            doc = convert(data, options, engine=engine, name=name, progress=lambda p, n: conn.send(("page", p.number)))
            conn.send(("done", doc))
        except BaseException as exc:  # noqa: BLE001
            conn.send(("error", error_info(exc)))


class EngineHost:
    def __init__(self, options: ConvertOptions, timeout: float) -> None:
        self.options = options
        self.timeout = timeout
        self.info: EngineInfo | None = None
        self.load_error: ErrorInfo | None = None
        self.ready = threading.Event()
        self.loaded = threading.Event()  # set once loading ended, either way
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child; loading happens in the background (watch ``ready``/``loaded``)."""
        ctx = mp.get_context("spawn")  # fork would copy boto3 sessions and threads
        parent, child = ctx.Pipe()
        # not a daemonic child: the CPU engine starts its own page workers
        self._proc = ctx.Process(target=_serve, args=(child, self.options), name="docwatch-engine")
        self._proc.start()
        child.close()
        self._conn = parent
        threading.Thread(target=self._await_load, name="engine-load", daemon=True).start()

    def _await_load(self) -> None:
        assert self._conn is not None
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            kind, payload = "load_error", ErrorInfo(type="EngineCrashed", message="engine process died while loading", retryable=True)
        if kind == "ready":
            self.info = payload
            self.ready.set()
        else:
            self.load_error = payload
        self.loaded.set()

    def convert(
        self,
        data: bytes,
        name: str,
        *,
        on_page: Callable[[int], None] | None = None,
        should_abort: Callable[[], bool] = lambda: False,
    ) -> Document:
        if not self.ready.is_set():
            raise EngineUnavailable(self.load_error.message if self.load_error else "engine not loaded yet")
        with self._lock:
            assert self._conn is not None
            self._conn.send((data, name))
            deadline = time.monotonic() + self.timeout
            while True:
                if should_abort():
                    self.stop()  # no restart: the daemon is on its way out
                    self.ready.clear()
                    raise Interrupted("stopping: conversion abandoned, the document is released")
                if time.monotonic() > deadline:
                    self._restart()
                    raise EngineFailure(f"conversion took longer than {self.timeout:.0f} s (document_timeout_seconds)")
                try:
                    if not self._conn.poll(0.2):
                        continue
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):
                    code = self._proc.exitcode if self._proc else None
                    self._restart()
                    raise EngineFailure(f"engine process died (exit code {code}) while converting") from None
                if kind == "page" and on_page:
                    on_page(payload)
                elif kind == "done":
                    return payload
                elif kind == "error":
                    raise RemoteConversionError(payload)

    def _restart(self) -> None:
        self.stop()
        self.ready.clear()
        self.loaded.clear()
        self.start()
        self.loaded.wait()

    def stop(self, grace: float = 10.0) -> None:
        """Ask the child to close its engine; then kill its whole process group regardless."""
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=grace)
            if self._proc.pid:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._proc.join()
            self._proc = None


class RemoteConversionError(ConversionError):
    """A ConversionError raised in the engine process, carried back as its ErrorInfo."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self._info = info
        self.retryable = info.retryable

    def info(self) -> ErrorInfo:
        return self._info

