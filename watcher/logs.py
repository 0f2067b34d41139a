"""structlog: JSON lines to stdout (console rendering on a terminal).

stdout is the log, so everything that writes there goes through structlog: docwatch's own
events, Python logging of the libraries (as JSON records with their logger name) and PyMuPDF's
messages (routed into Python logging). The engine child configures itself the same way.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading

import structlog

from processor.redact import redact_urls
from watcher.settings import LogFormat

_SECRET_WORDS = ("secret", "password", "token", "access_key", "credential", "authorization")


def _drop_secrets(_: object, __: str, event: dict) -> dict:
    """Last line of defence: no event field whose name smells of a secret is ever written."""
    for k in list(event):
        if any(w in k.lower() for w in _SECRET_WORDS):
            event[k] = "***"
    return event


def _redact_url_credentials(_: object, __: str, event: dict) -> dict:
    """Safety net: a URL in any value (an endpoint in an error text, a server URL in a
    library's message) loses its userinfo and secret query parameters."""
    return {k: _redacted(v) for k, v in event.items()}


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def configure_logging(level: str = "info", fmt: LogFormat = LogFormat.AUTO) -> None:
    console = fmt is LogFormat.CONSOLE or (fmt is LogFormat.AUTO and sys.stdout.isatty())
    renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer(ensure_ascii=False)
    shared = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _drop_secrets,
        _redact_url_credentials,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    # Python logging (libraries, PyMuPDF): the same renderer, on stdout. Libraries speak from
    # WARNING up; docwatch's own processor modules at the configured level.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))  # fmt: skip
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level.upper()]))
    logging.getLogger("processor").setLevel(level.upper())
    from processor.pymupdf_messages import route_pymupdf_messages  # PyMuPDF only when logging starts

    route_pymupdf_messages()
    # for the engine child (spawned: it inherits the environment, not this configuration)
    os.environ["DOCWATCH_LOG_LEVEL"], os.environ["DOCWATCH_LOG_FORMAT"] = level, fmt.value


def configure_child_logging() -> None:
    """In a process docwatch started: log as the daemon that started it does. Its stderr too:
    libraries that log through handlers of their own (paddlex: to stderr, in colour) or print
    there come out as log events (logger "stderr"), one a line, not as raw text."""
    configure_logging(os.environ.get("DOCWATCH_LOG_LEVEL", "info"), LogFormat(os.environ.get("DOCWATCH_LOG_FORMAT", "auto")))
    if not sys.stderr.isatty():
        sys.stderr = _LinesToLog()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _LinesToLog(io.TextIOBase):
    """A text stream whose every line becomes a warning event of logger "stderr"."""

    def __init__(self) -> None:
        self._log = structlog.get_logger().bind(logger="stderr")
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line := _ANSI.sub("", line).rstrip():
                self._log.warning(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        if line := _ANSI.sub("", line).rstrip():
            self._log.warning(line)
