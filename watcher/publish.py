"""Write a converted document's outputs: Markdown, JSON, figure images (the manifest comes last)."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from processor import Document, document_json, render_markdown
from watcher.layout import output_dir
from watcher.manifest import OutputRecord
from watcher.storage import Storage


def output_files(input_key: str, doc: Document) -> list[tuple[str, bytes, str]]:
    """(key, bytes, content type) for every output of ``doc``, keys under ``<rel>/``."""
    base = output_dir(input_key)
    stem = PurePosixPath(input_key).stem or "document"
    files = [
        (f"{base}/{stem}.md", render_markdown(doc).encode(), "text/markdown; charset=utf-8"),
        (f"{base}/{stem}.json", document_json(doc).encode(), "application/json"),
    ]
    files += [(f"{base}/{asset.path}", asset.data, asset.mime) for asset in doc.assets]
    return files


def publish(
    storage: Storage, input_key: str, doc: Document, previous: list[OutputRecord] | None = None
) -> list[OutputRecord]:
    """Write every output; then remove what an earlier version wrote and this one did not
    (e.g. a figure the new version no longer has), so the folder holds one version."""
    records = []
    for key, data, ctype in output_files(input_key, doc):
        storage.put(key, data, content_type=ctype)
        records.append(OutputRecord(key=key, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
    for stale in {o.key for o in previous or []} - {r.key for r in records}:
        storage.delete(stale)
    return records
