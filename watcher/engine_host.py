"""The engine runs in a child process (``engine_child``), shared by every document in flight.

Why a child: inference holds the CPU (and, in native code, the GIL) for seconds at a time; in a
child it can never starve the health endpoint or lease renewals, and a crash or hang in native
code costs the documents in flight, not the daemon. The engine loads once per child.

Each ``convert()`` call is a job on the one pipe; a reader thread routes the child's answers to
the job they belong to. A page watchdog follows each job: no page of it finished for
``page_timeout`` while the engine as a whole finished none either (a page hangs, not a queue
behind other documents' pages) ends the child, and the job fails retryably; a document budget
of ``page_timeout`` per page (capped by ``document_timeout``) bounds the rest.

When the child ends — a crash, or a kill because one job ran past its budget or the daemon is
stopping — every job in flight hears why: the job that ran over fails
(``EngineFailure``), the others are handed back untouched (``EngineUnavailable``); after a crash
the culprit is unknown, so a lone job fails and jobs in company raise ``CrashedInCompany`` (the
daemon releases them, each to run alone next time). The main loop restarts the child
(``revive_if_due``): PR_SET_PDEATHSIG follows the *thread* that started it.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from pathlib import Path

import structlog

from processor.backoff import backoff
from processor.document import Document, EngineInfo, ErrorInfo
from processor.engines import PageResult
from processor.errors import ConversionError, EngineFailure, EngineUnavailable
from watcher.settings import Settings
from watcher.engine_child import serve

log = structlog.get_logger("docwatch.engine")
_REVIVE_FIRST, _REVIVE_LONGEST = 5.0, 60.0  # seconds between reloads of an engine that is down
_CRASH, _STOPPING = "crash", "stopping"  # why a child ended, besides another job's timeout


class Interrupted(Exception):
    """The conversion was abandoned because the daemon is stopping."""


class CrashedInCompany(EngineFailure):
    """The engine died while several documents shared it: which one killed it is unknown."""


class _Child:
    """One engine process and the jobs it is working on."""

    def __init__(self, proc: mp.process.BaseProcess, conn: Connection) -> None:
        self.proc, self.conn = proc, conn
        self.jobs: dict[int, queue.Queue] = {}
        self.sending = threading.Lock()
        self.ended: str | None = None  # why we ended it (None: it died on its own)
        self.gone = False  # the reader saw it end and told its jobs

    def send(self, message: object) -> None:
        with self.sending:
            self.conn.send(message)


class EngineHost:
    """The engine child, as the daemon sees it: ``ready`` (loaded and warmed up, takes work),
    ``alive()`` (false once the engine has been down too long: let the orchestrator restart
    us), and ``convert()`` under a time budget of ``page_timeout`` per page, from any thread."""

    def __init__(self, settings: Settings) -> None:
        self.options = settings.convert_options()
        self.page_timeout = settings.page_timeout_seconds
        self.document_timeout = settings.document_timeout_seconds
        self.load_timeout = settings.engine_load_timeout_seconds
        self.dead_after = settings.engine_dead_after_seconds
        self.info: EngineInfo | None = None
        self.load_error: ErrorInfo | None = None
        self.ready = threading.Event()
        self.loaded = threading.Event()  # set once loading ended, either way
        self.down_since: float | None = None  # a restart failed: no work until a reload works
        self._child: _Child | None = None
        self._lock = threading.Lock()  # starting and ending children
        self._jobs = itertools.count(1)
        self._restart_due = False  # the child ended under work: the main loop starts a new one
        self._revive_at = self._revive_wait = 0.0
        self._revive_round = 0  # reloads of an engine that is down, so far
        self._progress_at = time.monotonic()  # the engine last finished a page, or took work while idle
        self.heartbeat: Callable[[], None] = lambda: None  # the daemon's loop ticks while a load is awaited

    # ------------------------------------------------------------------ the child's life
    def start(self) -> None:
        """Start the child; loading happens in the background (watch ``ready``/``loaded``)."""
        ctx = mp.get_context("spawn")  # fork would copy boto3 sessions and threads
        parent, child_end = ctx.Pipe()
        self.load_error = None
        # not a daemonic child: the CPU engine starts its own page workers
        proc = ctx.Process(target=serve, args=(child_end, self.options, os.getpid()), name="docwatch-engine")
        proc.start()
        child_end.close()
        self._child = child = _Child(proc, parent)
        threading.Thread(target=self._read, args=(child,), name="engine-reader", daemon=True).start()

    def _read(self, child: _Child) -> None:
        """Load outcome first, then every job's messages to that job, until the child ends."""
        try:
            _, kind, payload = child.conn.recv()
        except (EOFError, OSError):
            kind, payload = "load_error", ErrorInfo(type="EngineCrashed", message="engine process died while loading", retryable=True)
        if child is self._child:
            if kind == "ready":
                self.info, self.down_since = payload, None
                self.ready.set()
            else:
                self.load_error = payload
            self.loaded.set()
        if kind != "ready":
            return
        while True:
            try:
                job, kind, payload = child.conn.recv()
            except (EOFError, OSError):
                break
            if kind == "page":
                self._progress_at = time.monotonic()
            if (inbox := child.jobs.get(job)) is not None:
                inbox.put((kind, payload))
        child.proc.join(timeout=1.0)  # reaped, so its exit code can be reported
        with self._lock:
            why = child.ended or _CRASH
            child.gone = True
            in_flight = len(child.jobs)
            if why == _CRASH and child is self._child:
                self.ready.clear()
                self._restart_due = True
                log.error("engine.crashed", exit_code=child.proc.exitcode, documents_in_flight=in_flight)
        for inbox in list(child.jobs.values()):
            inbox.put(("ended", (why, in_flight, child.proc.exitcode)))

    def wait_loaded(self) -> bool:
        """Wait (bounded by ``load_timeout``) for the load to end; True when the engine is ready.
        A load that hangs is killed and reported as ``EngineLoadTimeout``. Ticks ``heartbeat``
        while it waits: the loop is waiting on a bound of its own, not stuck."""
        deadline = time.monotonic() + self.load_timeout
        while not self.loaded.wait(max(0.0, min(1.0, deadline - time.monotonic()))):
            self.heartbeat()
            if time.monotonic() < deadline:
                continue
            self._end_child("load timeout")
            self.load_error = ErrorInfo(type="EngineLoadTimeout", retryable=True,
                                        message=f"the engine did not load within {self.load_timeout:.0f} s")
            self.loaded.set()
            break
        return self.ready.is_set()

    def alive(self) -> bool:
        return self.down_since is None or time.monotonic() - self.down_since < self.dead_after

    # ------------------------------------------------------------------ one document
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
        job, inbox = next(self._jobs), queue.Queue()
        with self._lock:  # the reader tells the jobs registered before the child ended; never one after
            child = self._child
            if not self.ready.is_set() or child is None or child.ended or child.gone:
                raise EngineUnavailable(self.load_error.message if self.load_error else "the engine is not loaded")
            if not child.jobs:  # the engine was idle: its watchdog clock starts now
                self._progress_at = time.monotonic()
            child.jobs[job] = inbox
        try:
            try:
                child.send((job, str(spooled), name, frozenset(skip)))
            except OSError:
                inbox.put(("ended", (_CRASH, 1, child.proc.exitcode)))
            return self._follow(child, inbox, on_page, on_opened, should_abort)
        finally:
            child.jobs.pop(job, None)

    def _follow(self, child: _Child, inbox: queue.Queue, on_page, on_opened, should_abort) -> Document:
        started = last_page = time.monotonic()
        deadline = started + self.page_timeout  # until the page count is known
        while True:
            if should_abort():
                self._end_child(_STOPPING)  # no restart: the daemon is on its way out
                raise Interrupted("stopping: conversion abandoned, the document is released")
            now = time.monotonic()
            if (stalled := self._stalled(last_page, now)) or now > deadline:
                message = self._timeout_message(now - started, now - last_page if stalled else None)
                self._end_child("another document's timeout", restart=True)
                raise EngineFailure(message)
            try:
                kind, payload = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "opened":
                on_opened(payload)
                last_page = time.monotonic()
                # the document budget: page_timeout per page, capped by the optional document timeout
                deadline = started + self.page_timeout * max(payload, 1)
                if self.document_timeout:
                    deadline = min(deadline, started + self.document_timeout)
            elif kind == "page":
                last_page = time.monotonic()
                on_page(payload)
            elif kind == "done":
                return payload
            elif kind == "error":
                raise RemoteConversionError(payload)
            else:
                self._ended(*payload)

    def _stalled(self, last_page: float, now: float) -> bool:
        """The watchdog: none of this job's pages finished within ``page_timeout``, nor any
        page of the engine (pages of other documents going through: this one waits its turn)."""
        return now - max(last_page, self._progress_at) > self.page_timeout

    @staticmethod
    def _ended(why: str, in_flight: int, code: int | None) -> None:
        if why == _STOPPING:
            raise Interrupted("stopping: conversion abandoned, the document is released")
        if why != _CRASH:
            raise EngineUnavailable(f"the engine was restarted ({why}); this document was not at fault")
        if in_flight > 1:
            raise CrashedInCompany(f"engine process died (exit code {code}) while {in_flight} documents shared it")
        raise EngineFailure(f"engine process died (exit code {code}) while converting")

    def _timeout_message(self, seconds: float, stalled: float | None) -> str:
        if stalled is not None:
            return (f"no page finished in {stalled:.0f} s (page_timeout_seconds {self.page_timeout:.0f}); "
                    f"the engine was ended after {seconds:.0f} s on this document")
        return (f"conversion took {seconds:.0f} s, over its budget (page_timeout_seconds "
                f"{self.page_timeout:.0f} per page; document_timeout_seconds {self.document_timeout or 'unset'})")

    # ------------------------------------------------------------------ restarts
    def revive_if_due(self) -> None:
        """Called by the daemon's loop (the main thread: PR_SET_PDEATHSIG follows the thread
        that started the child, so a helper thread that ends would take the child with it).
        Starts a fresh child after a crash or a timeout; when that fails, or the engine is down,
        reloads with a back-off."""
        if self.ready.is_set():
            return
        if self._restart_due:
            self._restart_due = False
            if self._load_fresh_child():
                log.info("engine.restarted")
                return
            self.down_since = self.down_since or time.monotonic()
            self._revive_round = 1
            self._revive_wait = backoff(_REVIVE_FIRST, self._revive_round, _REVIVE_LONGEST)
            self._revive_at = time.monotonic() + self._revive_wait
            log.error("engine.restart_failed", error_type=self.load_error.type if self.load_error else None,
                      error=self.load_error.message if self.load_error else None)
            return
        if self.down_since is None or time.monotonic() < self._revive_at:
            return
        if self._load_fresh_child():
            log.info("engine.revived", down_seconds=round(time.monotonic() - (self.down_since or 0), 1))
            return
        self._revive_round += 1
        self._revive_wait = backoff(_REVIVE_FIRST, self._revive_round, _REVIVE_LONGEST)
        self._revive_at = time.monotonic() + self._revive_wait
        log.warning("engine.reload_failed", error=self.load_error.message if self.load_error else None,
                    next_try_in=self._revive_wait)

    def _load_fresh_child(self) -> bool:
        self._end_child("reload")
        self.ready.clear()
        self.loaded.clear()
        self.start()
        return self.wait_loaded()

    def stop(self, grace: float = 10.0) -> None:
        """For good: ask the child to close its engine, then kill its whole process group."""
        self._end_child(_STOPPING, grace=grace)

    def _end_child(self, why: str, *, grace: float = 0.0, restart: bool = False) -> None:
        """End the current child (once); its jobs hear ``why`` from the reader thread."""
        with self._lock:
            child = self._child
            if child is None or child.ended:
                return
            child.ended = why
            self.ready.clear()
            self._restart_due = self._restart_due or restart
        try:
            child.send(None)
        except OSError:
            pass
        child.proc.join(timeout=grace)
        if child.proc.pid:
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        child.proc.join()
        child.conn.close()


class RemoteConversionError(ConversionError):
    """A ConversionError raised in the engine process, carried back as its ErrorInfo."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self._info = info
        self.retryable = info.retryable

    def info(self) -> ErrorInfo:
        return self._info
