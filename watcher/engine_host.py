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
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from pathlib import Path

import structlog

from processor.document import Document, EngineInfo, ErrorInfo
from processor.engines import PageResult
from processor.errors import ConversionError, EngineFailure, EngineUnavailable, error_info
from processor.options import ConvertOptions

log = structlog.get_logger("docwatch.engine")


class Interrupted(Exception):
    """The conversion was abandoned because the daemon is stopping."""


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


_PR_SET_PDEATHSIG = 1
_REVIVE_FIRST, _REVIVE_LONGEST = 5.0, 60.0  # seconds between reloads of an engine that is down


def _serve(conn: Connection, options: ConvertOptions, parent_pid: int) -> None:
    # The parent decides when to stop; a terminal's Ctrl-C must not kill us mid-page. Our own
    # process group lets the parent kill page workers the engine may have started, too.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _kill_group)
    _term_when_parent_dies(parent_pid)
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
        path, name, skip = request
        try:
            # each page leaves as soon as it is done (the daemon checkpoints it); the
            # Document that ends the conversion then carries no pages of its own
            doc = convert(Path(path), options, engine=engine, name=name, skip=skip, keep_assets=False,
                          opened=lambda n: conn.send(("opened", n)), progress=lambda r, n: conn.send(("page", r)))
            conn.send(("done", doc.model_copy(update={"pages": [], "assets": []})))
        except BaseException as exc:  # noqa: BLE001
            conn.send(("error", error_info(exc)))


class EngineHost:
    """The engine child, as the daemon sees it: ``ready`` (loaded and warmed up, takes work),
    ``alive()`` (false once the engine has been down too long: let the orchestrator restart
    us), and ``convert()`` under a time budget of ``page_timeout`` per page."""

    def __init__(
        self,
        options: ConvertOptions,
        *,
        page_timeout: float,
        document_timeout: float | None = None,
        load_timeout: float = 900.0,
        dead_after: float = 300.0,
    ) -> None:
        self.options = options
        self.page_timeout = page_timeout
        self.document_timeout = document_timeout
        self.load_timeout = load_timeout
        self.dead_after = dead_after
        self.info: EngineInfo | None = None
        self.load_error: ErrorInfo | None = None
        self.ready = threading.Event()
        self.loaded = threading.Event()  # set once loading ended, either way
        self.down_since: float | None = None  # a restart failed: no work until a reload works
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._revive_at = self._revive_wait = 0.0

    def start(self) -> None:
        """Start the child; loading happens in the background (watch ``ready``/``loaded``)."""
        ctx = mp.get_context("spawn")  # fork would copy boto3 sessions and threads
        parent, child = ctx.Pipe()
        self.load_error = None
        # not a daemonic child: the CPU engine starts its own page workers
        self._proc = ctx.Process(target=_serve, args=(child, self.options, os.getpid()), name="docwatch-engine")
        self._proc.start()
        child.close()
        self._conn = parent
        threading.Thread(target=self._await_load, args=(parent,), name="engine-load", daemon=True).start()

    def _await_load(self, conn: Connection) -> None:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            kind, payload = "load_error", ErrorInfo(type="EngineCrashed", message="engine process died while loading", retryable=True)
        if conn is not self._conn:
            return  # a child we have given up on already
        if kind == "ready":
            self.info = payload
            self.down_since = None
            self.ready.set()
        else:
            self.load_error = payload
        self.loaded.set()

    def wait_loaded(self) -> bool:
        """Wait (bounded by ``load_timeout``) for the load to end; True when the engine is ready.
        A load that hangs is killed and reported as ``EngineLoadTimeout``."""
        if not self.loaded.wait(self.load_timeout):
            self._kill_child()
            self.load_error = ErrorInfo(type="EngineLoadTimeout", retryable=True,
                                        message=f"the engine did not load within {self.load_timeout:.0f} s")
            self.loaded.set()
        return self.ready.is_set()

    def alive(self) -> bool:
        return self.down_since is None or time.monotonic() - self.down_since < self.dead_after

    def convert(
        self,
        spooled: Path,
        name: str,
        *,
        skip: Collection[int] = (),
        on_page: Callable[[PageResult], None] = lambda result: None,
        on_opened: Callable[[int], None] = lambda pages: None,
        should_abort: Callable[[], bool] = lambda: False,
    ) -> Document:
        """Convert the file ``spooled`` (the child reads it: no input crosses the pipe), all
        pages but those in ``skip``. Each page goes to ``on_page`` as it is done; the Document
        returned holds the source and engine, not the pages."""
        if not self.ready.is_set():
            raise EngineUnavailable(self.load_error.message if self.load_error else "the engine is not loaded")
        with self._lock:
            assert self._conn is not None
            self._conn.send((str(spooled), name, frozenset(skip)))
            started = time.monotonic()
            deadline = started + self.page_timeout  # until the page count is known
            while True:
                if should_abort():
                    self._kill_child()  # no restart: the daemon is on its way out
                    self.ready.clear()
                    raise Interrupted("stopping: conversion abandoned, the document is released")
                if time.monotonic() > deadline:
                    self._restart()
                    raise EngineFailure(self._timeout_message(time.monotonic() - started))
                try:
                    if not self._conn.poll(0.2):
                        continue
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):
                    code = self._proc.exitcode if self._proc else None
                    self._restart()
                    raise EngineFailure(f"engine process died (exit code {code}) while converting") from None
                if kind == "opened":
                    on_opened(payload)
                    # the budget: page_timeout per page, capped by the optional document timeout
                    deadline = started + self.page_timeout * max(payload, 1)
                    if self.document_timeout:
                        deadline = min(deadline, started + self.document_timeout)
                elif kind == "page":
                    on_page(payload)
                elif kind == "done":
                    return payload
                elif kind == "error":
                    raise RemoteConversionError(payload)

    def _timeout_message(self, seconds: float) -> str:
        return (f"conversion took {seconds:.0f} s, over its budget (page_timeout_seconds "
                f"{self.page_timeout:.0f} per page; document_timeout_seconds {self.document_timeout or 'unset'})")

    def _restart(self) -> None:
        """A fresh child after a crash or a timeout. If it cannot load (a hang past the bound,
        or an error, e.g. GPU memory still held), the engine is down: no new work, reloads
        from ``revive_if_due``, and after ``dead_after`` liveness fails."""
        self._kill_child()
        if self._load_fresh_child():
            return
        self.down_since = self.down_since or time.monotonic()
        self._revive_wait = _REVIVE_FIRST
        self._revive_at = time.monotonic() + self._revive_wait
        log.error("engine.restart_failed", error_type=self.load_error.type if self.load_error else None,
                  error=self.load_error.message if self.load_error else None)

    def revive_if_due(self) -> None:
        """Called by the daemon's loop (the main thread: PR_SET_PDEATHSIG follows the thread
        that started the child, so a helper thread that ends would take the child with it)."""
        if self.down_since is None or self.ready.is_set() or time.monotonic() < self._revive_at:
            return
        with self._lock:
            self._kill_child()
            if self._load_fresh_child():
                log.info("engine.revived", down_seconds=round(time.monotonic() - (self.down_since or 0), 1))
                return
        self._revive_wait = min(self._revive_wait * 2, _REVIVE_LONGEST)
        self._revive_at = time.monotonic() + self._revive_wait
        log.warning("engine.reload_failed", error=self.load_error.message if self.load_error else None,
                    next_try_in=self._revive_wait)

    def _load_fresh_child(self) -> bool:
        self.ready.clear()
        self.loaded.clear()
        self.start()
        return self.wait_loaded()

    def stop(self, grace: float = 10.0) -> None:
        """For good: ask the child to close its engine, then kill its whole process group."""
        self._kill_child(grace)

    def _kill_child(self, grace: float = 0.0) -> None:
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
