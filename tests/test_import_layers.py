"""Import layers, read from the code's own import statements (lazy ones inside functions too):
watcher -> processor, never back; processor knows nothing of S3 or file watching; the engines
do not import each other; storage does not know the daemon; no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("watcher", "processor")


def _modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """Every name ``module`` imports (absolute, as written, submodules resolved)."""
    path = MODULES[module]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            subs = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
            names.update(subs)
            if len(subs) < len(node.names):  # ``from package import submodule`` is the submodule's arrow
                names.add(base)
    return names


def _own(name: str) -> str | None:
    """The project module ``name`` is, or lies in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


GRAPH = {m: {d for n in _imports(m) if (d := _own(n)) and d != m} for m in MODULES}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("forbidden", ["watcher", "boto3", "botocore", "watchdog"])
def test_processor_imports_neither_the_watcher_nor_s3_nor_file_watching(forbidden):
    offenders = sorted(m for m in MODULES if _under(m, "processor")
                       and any(_under(n, forbidden) for n in _imports(m)))
    assert not offenders, f"{forbidden} imported by {offenders}"


def test_the_engines_do_not_import_each_other():
    engines = ("processor.engines.cpu", "processor.engines.paddle")
    for engine in engines:
        others = [e for e in engines if e != engine]
        offenders = sorted(m for m in MODULES if _under(m, engine)
                           and any(_under(d, o) for d in GRAPH[m] for o in others))
        assert not offenders, f"{engine} reaches into {others}: {offenders}"


def test_storage_does_not_know_the_daemon():
    above = ("watcher.daemon", "watcher.attempt", "watcher.app", "watcher.cli", "watcher.sources",
             "watcher.claims", "watcher.engine_host")
    offenders = sorted((m, d) for m in MODULES if _under(m, "watcher.storage")
                       for d in GRAPH[m] if any(_under(d, a) for a in above))
    assert not offenders


def test_paddleocr_is_imported_in_one_module():
    importers = sorted(m for m in MODULES if any(_under(n, "paddleocr") for n in _imports(m)))
    assert importers == ["processor.engines.paddle.engine"]


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(m: str) -> None:  # Tarjan's strongly connected components
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for d in GRAPH[m]:
            if d not in index:
                visit(d)
                low[m] = min(low[m], low[d])
            elif d in on_stack:
                low[m] = min(low[m], index[d])
        if low[m] == index[m]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == m:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in sorted(MODULES):
        if m not in index:
            visit(m)
    assert not cycles, cycles


def test_the_checks_would_see_a_cycle_and_a_back_import():
    """The graph is really read: known arrows are in it."""
    assert "processor.convert" in GRAPH["watcher.engine_child"] or "processor.engines" in GRAPH["watcher.engine_child"]
    assert "watcher.attempt" in GRAPH["watcher.daemon"]
    assert "processor.text_layer" in GRAPH["processor.engines.paddle.pdf_text"]
