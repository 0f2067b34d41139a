"""What a stranger's configuration mistakes look like: one ``startup.failed`` JSON line naming
the setting by its env name, unknown ``DOCWATCH_*`` names with the closest known one, and the
effective settings with where each came from (``docwatch config``)."""

from __future__ import annotations

import difflib
import json
import os
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsError

from processor.redact import redact_urls
from watcher.settings import ConfigFileError, Settings

PREFIX = "DOCWATCH_"
# names docwatch reads that are not settings
OTHER_NAMES = ("DOCWATCH_CONFIG",)


class ConfigRefused(Exception):
    """A setting docwatch cannot start with: ``setting`` (env name), what is wrong, what it expects."""

    def __init__(self, setting: str, error: str, expected: str) -> None:
        super().__init__(f"{setting}: {error}")
        self.setting, self.error, self.expected = setting, error, expected


def env_name(loc: tuple[object, ...]) -> str:
    return PREFIX + "__".join(str(part) for part in loc if not isinstance(part, int)).upper()


def _field(loc: tuple[object, ...]) -> Any:
    model: Any = Settings
    field = None
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            break
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = field.annotation
    return field


def _expected(loc: tuple[object, ...], ctx: dict[str, Any] | None) -> str:
    if ctx and "expected" in ctx:
        return f"one of {ctx['expected']}"
    field = _field(loc)
    if field is None:
        return "a known setting (see docs/settings.md)"
    kind = getattr(field.annotation, "__name__", None) or str(field.annotation)
    return f"{kind}: {field.description}" if field.description else kind


def refusal(exc: BaseException) -> ConfigRefused | None:
    """The first thing wrong in ``exc`` as a ConfigRefused, or None when it is not a settings error."""
    if isinstance(exc, ConfigRefused):
        return exc
    if isinstance(exc, ConfigFileError):
        return ConfigRefused("DOCWATCH_CONFIG", str(exc), "the path of a readable TOML file")
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        shown = err.get("input")
        what = err["msg"] if isinstance(shown, dict | list) or _secret(loc) else f"{err['msg']} (got {shown!r})"
        return ConfigRefused(env_name(loc), redact_urls(what), _expected(loc, err.get("ctx")))
    if isinstance(exc, SettingsError):
        text = str(exc)
        field = text.split('"')[1] if text.count('"') >= 2 else ""
        name = env_name((field,)) if field else "DOCWATCH_*"
        return ConfigRefused(name, "value is not valid JSON", "JSON, or for a list comma-separated values")
    return None


def _secret(loc: tuple[object, ...]) -> bool:
    return any(w in str(part).lower() for part in loc for w in ("secret", "token", "key", "password"))


def failed_line(refused: ConfigRefused, stream: IO[str] | None = None) -> None:
    """The one JSON line a refused configuration leaves on stdout (logging may not be set up yet)."""
    line = {"event": "startup.failed", "level": "error", "setting": refused.setting, "error": refused.error,
            "expected": refused.expected, "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    print(json.dumps(line, ensure_ascii=False), file=stream or sys.stdout, flush=True)


def known_names(model: type[BaseModel] = Settings, prefix: str = PREFIX) -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():
        full = prefix + name.upper()
        names.append(full)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += known_names(field.annotation, full + "__")
    return names


def unknown_names(environ: dict[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``DOCWATCH_*`` names in the environment that docwatch does not read, each with the closest known name."""
    known = [*known_names(), *OTHER_NAMES]
    found = []
    for name in sorted(environ if environ is not None else os.environ):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            found.append((name, close[0] if close else None))
    return found


def warn_unknown_names(stream: IO[str]) -> None:
    for name, closest in unknown_names():
        line = {"event": "settings.unknown_name", "level": "warning", "name": name, "closest": closest,
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        print(json.dumps(line, ensure_ascii=False), file=stream, flush=True)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, Path):
        return str(value)
    return value.value if hasattr(value, "value") and not isinstance(value, int | float) else value


def effective(settings: Settings, flags: dict[str, object], config: str | None) -> dict[str, dict[str, Any]]:
    """Every top-level setting: its value (secrets masked) and where it came from."""
    in_file: dict[str, Any] = {}
    if config:
        in_file = tomllib.loads(Path(config).read_text(encoding="utf-8"))
    env = {k.upper() for k in os.environ}
    out = {}
    for name in Settings.model_fields:
        upper = PREFIX + name.upper()
        if flags.get(name) is not None:
            source = "flag"
        elif upper in env or any(k.startswith(upper + "__") for k in env):
            source = "env"
        elif name in in_file:
            source = "config file"
        else:
            source = "default"
        out[name] = {"value": _plain(getattr(settings, name)), "source": source}
    return out


def table(rows: dict[str, dict[str, Any]]) -> str:
    width = max(len(PREFIX + n) for n in rows)
    lines = [f"{'setting':<{width}}  {'source':<11}  value"]
    for name, row in rows.items():
        value = row["value"]
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        lines.append(f"{PREFIX + name.upper():<{width}}  {row['source']:<11}  {shown}")
    return "\n".join(lines)
