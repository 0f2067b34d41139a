"""structlog: JSON lines to stdout (console rendering on a terminal)."""

from __future__ import annotations

import logging
import sys

import structlog

from watcher.settings import LogFormat

_SECRET_WORDS = ("secret", "password", "token", "access_key", "credential", "authorization")


def _drop_secrets(_: object, __: str, event: dict) -> dict:
    """Last line of defence: no event field whose name smells of a secret is ever written."""
    for k in list(event):
        if any(w in k.lower() for w in _SECRET_WORDS):
            event[k] = "***"
    return event


def configure_logging(level: str = "info", fmt: LogFormat = LogFormat.AUTO) -> None:
    console = fmt is LogFormat.CONSOLE or (fmt is LogFormat.AUTO and sys.stdout.isatty())
    renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer(ensure_ascii=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _drop_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
