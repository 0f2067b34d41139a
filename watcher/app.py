"""Wiring for `docwatch run`: storages, checks, engine child, health endpoint, signals."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import structlog

from processor.backoff import backoff
from processor.options import EngineName
from processor.redact import redact_urls
from watcher.daemon import Daemon
from watcher.engine_host import EngineHost
from watcher.health import HealthServer, PostRoute
from watcher.feedback_loop import refuse_feedback_loop
from watcher.metrics import Metrics
from watcher.notify.notifier import Notifier
from watcher.notify.targets import targets
from watcher.settings import Settings
from watcher.verify import VerifyLoop
from watcher.sources.hub import Sources, build_sources
from watcher.storage import LocalStorage, Storage, StorageError, open_storage
from watcher.storage.s3 import S3Storage
from watcher.storage.s3_answers import unanswered

log = structlog.get_logger("docwatch")


class StartupError(Exception):
    """docwatch cannot start; the message says what to fix."""


def open_storages(settings: Settings) -> tuple[Storage, Storage]:
    if not settings.input or not settings.output:
        raise StartupError("set both an input and an output (--input/--output or DOCWATCH_INPUT/DOCWATCH_OUTPUT)")
    refuse_feedback_loop(settings.input, settings.output)
    source = open_storage(settings.input, settings.s3)
    sink = open_storage(settings.output, settings.s3, create=True)
    source.check()
    if isinstance(sink, LocalStorage):
        sink.check_writable()
    else:
        sink.check()
    if not settings.single_replica and not sink.supports_conditional_writes():
        raise StartupError(
            f"{sink.uri} does not honour conditional writes ({sink.conditional_writes_problem}), so "
            "claims cannot stop two replicas from taking the same document. Run exactly one replica "
            "and set DOCWATCH_SINGLE_REPLICA=true, or use a store that supports conditional writes."
        )
    return source, sink


def open_storages_patiently(
    settings: Settings, stopping: threading.Event, waiting: Callable[[str | None], None] = lambda why: None
) -> tuple[Storage, Storage] | None:
    """A store that does not answer (connection refused, timeouts, 5xx, dropped connections) is an
    outage, not a mistake: wait for it with back-off, one log line per round, and tell
    ``waiting`` why (readiness says so), rather than exit and crash-loop. A store that answers
    and refuses (credentials, no bucket, no conditional writes) ends the start at once. None
    when stopped while waiting."""
    round_ = 0
    while True:
        try:
            opened = open_storages(settings)
            waiting(None)
            return opened
        except StorageError as exc:
            if not (exc.transient or unanswered(exc.__cause__)):
                raise
            round_ += 1
            wait = max(backoff(2.0, round_, cap=60.0), 0.5)
            waiting(f"unavailable: {exc}")
            log.warning("startup.storage_unavailable", endpoint=_endpoint(settings), error=str(exc),
                        retry_in=round(wait, 1))
        if stopping.wait(wait):
            return None


def _endpoint(settings: Settings) -> str:
    s3 = settings.s3.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return redact_urls(s3) if s3 else "the AWS default endpoint"


def event_routes(settings: Settings, sources: Sources) -> dict[str, PostRoute]:
    """The webhook source answers POST /events on the health port'settings server."""
    from watcher.sources.webhook import PATH, Webhook

    hooks = [src for src in sources.sources if isinstance(src, Webhook)]
    if hooks and not settings.health_port:
        raise StartupError("the webhook (events.webhook_token) is served on the health port: set health_port")
    return {PATH: hooks[0].handle} if hooks else {}


class Readiness:
    """What /readyz and /healthz say, from the start: while the stores are awaited nothing is
    ready but the process is alive; then the engine and the daemon's storage answers decide."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage_waiting: str | None = "opening"
        self.daemon: Daemon | None = None
        self.engine: EngineHost | None = None

    def ready(self) -> tuple[bool, dict[str, str]]:
        daemon, engine, s = self.daemon, self.engine, self.settings
        if daemon is None or engine is None:
            return False, {"storage": self.storage_waiting or "ok", "engine": "not started"}
        # a listing or a lease renewal counts: during a long document the loop does not list
        fresh = daemon.storage_ok(within=max(3 * s.poll_interval, s.lease_seconds, 60))
        state = "ready" if engine.ready.is_set() else "down" if engine.down_since is not None else "loading"
        detail = {"engine": state, "storage": "ok" if fresh else "unknown"}
        return engine.ready.is_set() and fresh and not daemon.stopping.is_set(), detail

    def not_alive(self) -> tuple[str | None, dict[str, float]]:
        """Why the process is not alive (None: it is), and seconds since each heartbeat."""
        daemon, engine = self.daemon, self.engine
        if daemon is None or engine is None:  # waiting for the stores: alive
            return None, {}
        if not engine.alive():
            return (f"engine down longer than {self.settings.engine_dead_after_seconds:.0f} s",
                    daemon.seconds_since_tick())
        return daemon.not_alive(), daemon.seconds_since_tick()


def run_daemon(settings: Settings, *, once: bool = False) -> int:
    """The health endpoint first (probes answer while the stores are awaited), then the stores,
    the sources, the engine and the loop."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # until the daemon takes them over
        signal.signal(sig, lambda *_: stopping.set())
    metrics = Metrics()
    pipeline_version = settings.paddle.pipeline_version if settings.engine is not EngineName.CPU else "none"
    metrics.set_build_info(engine=settings.engine.value, pipeline_version=pipeline_version)
    readiness, routes = Readiness(settings), {}  # routes: filled once the sources exist
    health = None
    if settings.health_port:
        try:
            health = HealthServer(settings.health_host, settings.health_port, readiness.ready, readiness.not_alive,
                                  metrics, post_routes=routes)
        except OSError as exc:  # in use, or an address this host does not have
            where = f"{settings.health_host}:{settings.health_port}"
            log.error("startup.failed", error=f"cannot serve the health endpoint on {where}: "
                      f"{exc.strerror or exc} (set DOCWATCH_HEALTH_PORT to a free port, or 0 to turn it off)")
            return 2
        health.start()
    try:
        return _serve(settings, once, stopping, metrics, readiness, routes, health)
    finally:
        if health:
            health.stop()


def _serve(settings: Settings, once: bool, stopping: threading.Event, metrics: Metrics, readiness: Readiness,
           routes: dict[str, PostRoute], health: HealthServer | None) -> int:
    log.debug("startup.checking_storage", input=settings.input, output=settings.output)
    def waiting(why: str | None) -> None:
        readiness.storage_waiting = why

    try:
        opened = open_storages_patiently(settings, stopping, waiting)
    except (StartupError, StorageError) as exc:
        log.error("startup.failed", error=str(exc))
        return 2
    if opened is None:
        return 0
    source, sink = opened
    for store in {id(s): s for s in (source, sink)}.values():
        if isinstance(store, S3Storage):
            metrics.observe_s3_client(store.client)
    try:
        sources = build_sources(settings, source, sink, metrics, once=once)
        routes.update(event_routes(settings, sources))
    except (StartupError, StorageError) as exc:
        log.error("startup.failed", error=str(exc))
        return 2
    engine = EngineHost(settings)
    metrics.watch_engine(lambda: "ready" if engine.ready.is_set() else "down" if engine.down_since is not None
                         else "loading")
    notifier = None
    if settings.notify.enabled:
        notifier = Notifier(sink, targets(settings.notify, settings.s3), metrics, threading.Event(),
                            settings.notify.scan_interval)
    daemon = Daemon(settings, source, sink, engine, metrics, sources, notifier)
    readiness.daemon, readiness.engine = daemon, engine
    if stopping.is_set():
        daemon.stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stop())
    log.info("daemon.start", input=source.uri, output=sink.uri, engine=settings.engine.value,
             worker=settings.worker_id, health_port=health.port if health else None)
    engine.start()
    try:
        loading_since = time.monotonic()
        while not engine.loaded.wait(0.5):
            if daemon.stopping.is_set():
                return 0
            if time.monotonic() - loading_since > settings.engine_load_timeout_seconds:
                engine.wait_loaded()  # past the bound: kills the child, records the timeout
        if engine.load_error:
            log.error("engine.load_failed", error_type=engine.load_error.type, error=engine.load_error.message)
            return 3
        metrics.engine_ready.set(1)
        log.info("engine.ready", engine=engine.info.name if engine.info else None,
                 version=engine.info.version if engine.info else None)
        sources.start()  # after the engine: a message is not held while models load
        if notifier is not None:
            notifier.start()
        if settings.verify_interval and not once:
            VerifyLoop(sink, settings.verify_interval, metrics, daemon.stopping).start()
        daemon.run(once=once)
        if engine.down_since is not None:  # --once ended by an engine that could not come back
            log.error("engine.down", error=engine.load_error.message if engine.load_error else None)
            return 3
    finally:
        sources.stop()
        if notifier is not None:
            notifier.close(grace=settings.shutdown_grace_seconds)
        engine.stop()
        log.info("daemon.stop")
    return 0
