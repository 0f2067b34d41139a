"""Every DOCWATCH_* name the docs and deploy files tell people to set maps to a setting, and
the conversion options are declared once (Settings carries ConvertOptions' own fields)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from processor.options import ConvertOptions
from watcher.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# names that are not settings: the config file's path, the test runner's workers, the compose
# file's image choice, and knobs of the test engines under tests/
NOT_SETTINGS = {"CONFIG", "TEST_WORKERS", "IMAGE_ENGINE"}
NAME = re.compile(r"DOCWATCH_([A-Z0-9]+(?:_{1,2}[A-Z0-9]+)*)")


def _documented() -> set[str]:
    places = [ROOT / "README.md", ROOT / "Dockerfile", *(ROOT / "deploy").rglob("*"), *(ROOT / "docs").rglob("*.md")]
    names: set[str] = set()
    for path in places:
        if path.is_file() and path.suffix not in {".pdf", ".png"}:
            names |= set(NAME.findall(path.read_text(errors="replace")))
    return names - NOT_SETTINGS


def _resolves(model: type[BaseModel], parts: list[str]) -> bool:
    field = model.model_fields.get(parts[0].lower())
    if field is None:
        return False
    if len(parts) == 1:
        return True
    inner = field.annotation
    return isinstance(inner, type) and issubclass(inner, BaseModel) and _resolves(inner, parts[1:])


def test_every_documented_name_is_a_setting():
    names = _documented()
    assert len(names) > 40  # the docs were read
    unknown = sorted(n for n in names if not _resolves(Settings, n.split("__")))
    assert not unknown, f"documented but not settings: {unknown}"


def test_the_conversion_options_are_declared_once():
    for name, field in ConvertOptions.model_fields.items():
        mine = Settings.model_fields[name]
        assert (mine.annotation, mine.default, mine.metadata) == (field.annotation, field.default, field.metadata), name
    assert "figure_dpi" not in Settings.__annotations__  # inherited, not re-declared


@pytest.mark.parametrize(("env", "value"), [("DOCWATCH_FIGURE_DPI", "20"), ("DOCWATCH_MAX_PAGES", "0")])
def test_the_options_limits_hold_at_start(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError):
        Settings()


def test_flat_and_nested_names_reach_the_conversion_options(monkeypatch):
    monkeypatch.setenv("DOCWATCH_ENGINE", "pp-structurev3")
    monkeypatch.setenv("DOCWATCH_CPU__OCR_DPI", "200")
    monkeypatch.setenv("DOCWATCH_PADDLE__RENDER_DPI", "150")
    monkeypatch.setenv("DOCWATCH_FIGURE_DPI", "100")
    options = Settings().convert_options()
    assert (options.engine.value, options.cpu.ocr_dpi, options.paddle.render_dpi, options.figure_dpi) == (
        "pp-structurev3", 200, 150, 100)
