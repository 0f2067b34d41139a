"""Wiring for `docwatch run`: storages, checks, engine child, health endpoint, signals."""

from __future__ import annotations

import signal
import threading
import time

import structlog

from watcher.daemon import Daemon
from watcher.engine_host import EngineHost
from watcher.health import HealthServer, PostRoute
from watcher.feedback_loop import refuse_feedback_loop
from watcher.metrics import Metrics
from watcher.settings import Settings
from watcher.sources.hub import Sources, build_sources
from watcher.storage import LocalStorage, Storage, StorageError, open_storage

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


def open_storages_patiently(settings: Settings, stopping: threading.Event) -> tuple[Storage, Storage] | None:
    """A store that is there but failing (5xx, dropped connections) is an outage, not a
    mistake: wait for it, saying so, rather than exit and crash-loop. A wrong bucket, URL or
    credentials still end the start at once. None when stopped while waiting."""
    wait = 2.0
    while True:
        try:
            return open_storages(settings)
        except StorageError as exc:
            if not exc.transient:
                raise
            log.warning("startup.storage_unavailable", error=str(exc), retry_in=wait)
        if stopping.wait(wait):
            return None
        wait = min(wait * 2, 60.0)


def event_routes(settings: Settings, sources: Sources) -> dict[str, PostRoute]:
    """The webhook source answers POST /events on the health port'settings server."""
    from watcher.sources.webhook import PATH, Webhook

    hooks = [src for src in sources.sources if isinstance(src, Webhook)]
    if hooks and not settings.health_port:
        raise StartupError("the webhook (events.webhook_token) is served on the health port: set health_port")
    return {PATH: hooks[0].handle} if hooks else {}


def run_daemon(settings: Settings, *, once: bool = False) -> int:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # until the daemon takes them over
        signal.signal(sig, lambda *_: stopping.set())
    log.debug("startup.checking_storage", input=settings.input, output=settings.output)
    try:
        opened = open_storages_patiently(settings, stopping)
    except (StartupError, StorageError) as exc:
        log.error("startup.failed", error=str(exc))
        return 2
    if opened is None:
        return 0
    source, sink = opened
    metrics = Metrics()
    try:
        sources = build_sources(settings, source, sink, metrics, once=once)
        routes = event_routes(settings, sources)
    except (StartupError, StorageError) as exc:
        log.error("startup.failed", error=str(exc))
        return 2
    engine = EngineHost(settings)
    daemon = Daemon(settings, source, sink, engine, metrics, sources)

    def ready() -> tuple[bool, dict[str, str]]:
        # a listing or a lease renewal counts: during a long document the loop does not list
        fresh = daemon.storage_ok(within=max(3 * settings.poll_interval, settings.lease_seconds, 60))
        state = "ready" if engine.ready.is_set() else "down" if engine.down_since is not None else "loading"
        detail = {"engine": state, "storage": "ok" if fresh else "unknown"}
        return engine.ready.is_set() and fresh and not daemon.stopping.is_set(), detail

    def not_alive() -> tuple[str | None, dict[str, float]]:
        if not engine.alive():
            return f"engine down longer than {settings.engine_dead_after_seconds:.0f} s", daemon.seconds_since_tick()
        return daemon.not_alive(), daemon.seconds_since_tick()

    health = None
    if settings.health_port:
        try:
            health = HealthServer(settings.health_host, settings.health_port, ready, not_alive, metrics,
                                  post_routes=routes)
        except OSError as exc:  # in use, or an address this host does not have
            where = f"{settings.health_host}:{settings.health_port}"
            log.error("startup.failed", error=f"cannot serve the health endpoint on {where}: "
                      f"{exc.strerror or exc} (set DOCWATCH_HEALTH_PORT to a free port, or 0 to turn it off)")
            return 2
        health.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stop())
    log.info("daemon.start", input=source.uri, output=sink.uri, engine=settings.engine.value,
             worker=settings.worker_id,
             health_port=health.port if health else None)
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
        daemon.run(once=once)
        if engine.down_since is not None:  # --once ended by an engine that could not come back
            log.error("engine.down", error=engine.load_error.message if engine.load_error else None)
            return 3
    finally:
        sources.stop()
        engine.stop()
        if health:
            health.stop()
        log.info("daemon.stop")
    return 0
