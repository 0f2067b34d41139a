"""The settings table in docs/settings.md, generated from the Settings model (tests keep them in sync)."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from watcher.settings import Settings

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return ""
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value)
    if hasattr(value, "value"):
        value = value.value
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += _rows(annotation, f"{prefix}{name.upper()}__")
            continue
        if name == "worker_id":
            default = "`<hostname>-<pid>`"
        else:
            default = _default(field)
        rows.append(f"| `{prefix}{name.upper()}` | {default} | {field.description or ''} |")
    return rows


def settings_table() -> str:
    head = ["| env var | default | meaning |", "|---|---|---|"]
    return "\n".join([BEGIN, *head, *_rows(Settings, "DOCWATCH_"), END])


if __name__ == "__main__":
    import re
    import sys
    from pathlib import Path

    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/settings.md")
    text = readme.read_text()
    readme.write_text(re.sub(f"{re.escape(BEGIN)}.*?{re.escape(END)}", lambda _: settings_table(), text, flags=re.S))
