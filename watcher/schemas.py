"""The JSON Schemas docwatch publishes: the document, the status manifest, the completion event.

Each comes from its pydantic model in serialization mode (what docwatch writes); the copies
under docs/schemas/ are tested to equal these.
"""

from __future__ import annotations

import json

SCHEMA_NAMES = ("document", "manifest", "event")


def schema(name: str) -> dict:
    if name == "document":
        from processor.document import Document

        return Document.model_json_schema(mode="serialization")
    if name == "manifest":
        from watcher.manifest import Manifest

        return Manifest.model_json_schema(mode="serialization")
    if name == "event":
        from watcher.events import CompletionEvent

        return CompletionEvent.model_json_schema(mode="serialization")
    raise ValueError(f"unknown schema {name!r}; one of {', '.join(SCHEMA_NAMES)}")


def schema_text(name: str) -> str:
    """The schema as docwatch prints and publishes it."""
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"
