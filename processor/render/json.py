"""JSON rendering of the document model, and its JSON Schema."""

from __future__ import annotations

import json

from processor.document import Document


def document_json(doc: Document, *, include_raw: bool = True) -> str:
    exclude = {"pages": {"__all__": {"raw"}}} if not include_raw else None
    return doc.model_dump_json(indent=1, exclude=exclude)


def json_schema() -> str:
    return json.dumps(Document.model_json_schema(mode="serialization"), indent=2, ensure_ascii=False) + "\n"
