"""Write a converted document's outputs: Markdown, JSON, figure images (the manifest comes last).

Fencing: a worker cut off from the store past its lease may still be sending writes when its
successor has finished; those late writes must not replace the successor's outputs. Every claim
on a document has a number (the manifest's ``fence``), stamped into the bytes of each output it
writes (``watcher.fence``), so no two claims' outputs share an ETag. Every output write is
conditional on the version of the key this worker last knew (the ETags the previous manifest
recorded; absent keys must still be absent), and the store evaluates each condition when the
request arrives: a late write from an earlier claim meets a changed ETag and is refused there.
A write that finds the key changed overwrites it only after the worker proves it still holds
the claim (a compare-and-swap of the manifest), reads the key, finds no later claim's stamp in
it, and conditions the write on exactly what it read; otherwise it stops (``Fenced``). Outputs
the new version no longer has are removed only after its manifest is written, and only in the
version that manifest listed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import PurePosixPath

from processor import Document, document_json
from processor.document import Asset
from processor.render import markdown_files
from watcher.layout import output_dir
from watcher.manifest import OutputRecord
from watcher.fence import read as read_fence
from watcher.fence import stamp as stamped
from watcher.storage import PARALLEL_WRITES, NotFound, PreconditionFailed, Storage

_TRIES = 4  # a key that changes under a worker proven to hold the claim is contended; give up


class Fenced(Exception):
    """This worker no longer holds the claim: another one owns the document's outputs now."""


def output_files(
    input_key: str,
    doc: Document,
    figure: Callable[[Asset], bytes] = lambda a: a.data,
    *,
    keys_are_paths: bool = False,
    review: Callable[[], str] | None = None,
) -> Iterator[tuple[str, bytes, str]]:
    """(key, bytes, content type) for every output of ``doc``, keys under ``<rel>/``; one at a
    time, so figures kept in the store (``figure`` reads them) are in memory one by one.
    ``review``: makes the review page, written last as ``review.html``."""
    base = output_dir(input_key, keys_are_paths=keys_are_paths)
    stem = PurePosixPath(input_key).stem or "document"
    for suffix, markdown in markdown_files(doc):  # docwatch's, and/or the pipeline's own
        yield f"{base}/{stem}{suffix}", markdown.encode(), "text/markdown; charset=utf-8"
    yield f"{base}/{stem}.json", document_json(doc).encode(), "application/json"
    for asset in doc.assets:
        yield f"{base}/{asset.path}", figure(asset), asset.mime
    if review is not None:
        yield f"{base}/review.html", review().encode(), "text/html; charset=utf-8"


def publish(
    storage: Storage,
    input_key: str,
    doc: Document,
    known: list[OutputRecord] | None = None,
    prove: Callable[[], bool] = lambda: True,
    figure: Callable[[Asset], bytes] = lambda a: a.data,
    fence: int = 0,
    review: Callable[[], str] | None = None,
) -> list[OutputRecord]:
    """Write every output, each conditional on its last known version (``known``: the outputs
    the previous manifest lists) and stamped with this claim's ``fence``. ``prove`` re-asserts
    the claim (False: it is lost)."""
    etags = {o.key: o.etag for o in known or [] if o.etag}

    def write(key: str, data: bytes, ctype: str) -> OutputRecord:
        data = stamped(data, ctype, fence) if fence else data  # (0: no claim, e.g. `docwatch convert`)
        etag = _fenced_write(storage, key, data, ctype, etags.get(key), prove, fence)
        return OutputRecord(key=key, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), etag=etag)

    # a few writes at once (a store's latency is paid per request, not per byte), a few
    # outputs in memory at a time
    records: list[OutputRecord] = []
    files = output_files(input_key, doc, figure, keys_are_paths=storage.keys_are_paths, review=review)
    with ThreadPoolExecutor(PARALLEL_WRITES, thread_name_prefix="publish") as pool:
        while batch := list(islice(files, PARALLEL_WRITES)):
            records += pool.map(lambda f: write(*f), batch)
    return records


def _fenced_write(
    storage: Storage, key: str, data: bytes, ctype: str, expected: str | None, prove: Callable[[], bool],
    fence: int,
) -> str:
    for _ in range(_TRIES):
        try:
            if expected is None:
                return storage.put_if_absent(key, data, content_type=ctype)
            return storage.compare_and_swap(key, data, expected, content_type=ctype)
        except PreconditionFailed:
            # Written since: by an attempt that died mid-publish, or by a later claim. Proving the
            # claim and reading the key are two requests: a later claim may win in between, so
            # what was read must not be a later claim's (its stamp says), and the write that
            # follows is conditional on exactly what was read.
            if not prove():
                raise Fenced(key) from None
            try:
                current, etag = storage.get(key)
            except NotFound:
                expected = None
                continue
            if (theirs := read_fence(current)) is not None and theirs > fence:
                raise Fenced(f"{key}: written by a later claim ({theirs} > {fence})") from None
            if current == data:
                return etag  # this attempt's own write, whose answer was lost
            expected = etag
    raise Fenced(f"{key} kept changing while this worker held the claim")


def remove_stale(storage: Storage, previous: list[OutputRecord], current: list[OutputRecord]) -> list[str]:
    """After the new manifest is written: remove what the previous version wrote and this one
    did not (e.g. a figure it no longer has), each only in the version that was listed."""
    keep = {r.key for r in current}
    removed = []
    for old in previous:
        if old.key in keep:
            continue
        try:
            storage.delete(old.key, etag=old.etag)
            removed.append(old.key)
        except PreconditionFailed:
            pass  # rewritten since: not ours to remove
    return removed
