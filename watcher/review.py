"""`docwatch review`: the review page of one converted document in a local output folder.

A result folder is ``<out>/<rel>/`` (see watcher.layout): ``<stem>.json``, ``<stem>.md``,
figures under ``images/`` and, from the daemon, ``manifest.json``. The page pictures come from
the input: ``--input``, or else the manifest's source when it is a local file that still has
the bytes that were converted. Without either, grey placeholders of each page's size stand in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from processor.document import Document
from processor.render.review import markdown_by_page, page_images, render_review, split_markdown
from watcher.layout import MANIFEST_NAME
from watcher.manifest import Manifest


class ReviewError(Exception):
    """The folder is not a docwatch result, or the input given is not the one converted."""


@dataclass
class Result:
    folder: Path
    document: Document
    markdown: dict[int, str]
    assets: dict[str, bytes]
    manifest: Manifest | None


def load_result(folder: Path) -> Result:
    manifest_path = folder / MANIFEST_NAME
    manifest = Manifest.from_bytes(manifest_path.read_bytes()) if manifest_path.is_file() else None
    candidates = sorted(p for p in folder.glob("*.json") if p.name != MANIFEST_NAME)
    if manifest is not None:
        stem = Path(manifest.source.key).stem or "document"
        candidates = [p for p in candidates if p.stem == stem] or candidates
    if not candidates and manifest is not None and manifest.error is not None:
        raise ReviewError(f"{folder}: {manifest.source.key} {manifest.status.value} "
                          f"({manifest.error.type}: {manifest.error.message}); no document to review")
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise ReviewError(f"{folder}: expected one document JSON beside the Markdown, found {found}")
    doc_path = candidates[0]
    document = Document.model_validate_json(doc_path.read_bytes())
    md_path = doc_path.with_suffix(".md")
    markdown = split_markdown(md_path.read_text()) if md_path.is_file() else markdown_by_page(document)
    assets = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in (folder / "images").rglob("*") if p.is_file()
    }  # fmt: skip
    return Result(folder, document, markdown, assets, manifest)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def find_input(result: Result, given: Path | None, warn: Callable[[str], None] = lambda _: None) -> Path | None:
    """The input to draw the pages from: ``given`` (must be the bytes converted), or the
    manifest's local source when it still is; None when there is none."""
    want = result.document.source.sha256
    if given is not None:
        if _sha256(given) != want:
            raise ReviewError(f"{given} is not the input of {result.folder} (its sha256 differs)")
        return given
    if result.manifest is None:
        return None
    source = Path(result.manifest.source.uri)
    if result.manifest.source.uri.startswith("s3://") or not source.is_file():
        return None
    if _sha256(source) != want:
        warn(f"{source} changed since it was converted; pages drawn without pictures")
        return None
    return source


def write_review(
    folder: Path, output: Path | None = None, input_path: Path | None = None, dpi: int = 110,
    warn: Callable[[str], None] = lambda _: None,
) -> Path:
    result = load_result(folder)
    source = find_input(result, input_path, warn)
    images: list[bytes | None] = page_images(source, dpi) if source else []
    if source is None:
        warn("no input to draw the pages from (give --input FILE): grey placeholders stand in")
    html = render_review(result.document, images, result.markdown, assets=result.assets)
    target = output or folder / "review.html"
    target.write_text(html, encoding="utf-8")
    return target
