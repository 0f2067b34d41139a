"""Validate what docwatch writes against its published JSON Schemas (docs/schemas/).

Plain helpers, no fixtures: ``assert_valid_manifest(out / key / "manifest.json")``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "docs" / "schemas"


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _load(path_or_dict: Path | str | dict) -> dict:
    return path_or_dict if isinstance(path_or_dict, dict) else json.loads(Path(path_or_dict).read_text())


def assert_valid(name: str, path_or_dict: Path | str | dict) -> dict:
    data = _load(path_or_dict)
    errors = sorted(validator(name).iter_errors(data), key=lambda e: list(e.absolute_path))
    where = "" if isinstance(path_or_dict, dict) else f" {path_or_dict}"
    assert not errors, f"{name}{where} does not match its schema:\n" + "\n".join(
        f"  {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]
    )
    return data


def assert_valid_manifest(path_or_dict: Path | str | dict) -> dict:
    """The manifest (a manifest.json path or its parsed dict) matches docs/schemas/manifest.schema.json."""
    return assert_valid("manifest", path_or_dict)


def assert_valid_event(path_or_dict: Path | str | dict) -> dict:
    return assert_valid("event", path_or_dict)


def assert_valid_document(path_or_dict: Path | str | dict) -> dict:
    return assert_valid("document", path_or_dict)
