"""Reading and re-queueing manifests: `docwatch status` and `docwatch retry`."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator

from watcher.checkpoints import forget_pages
from watcher.discovery import DoneIndex
from watcher.layout import EPOCH_KEY, input_key_of_manifest, is_state_key
from watcher.manifest import Manifest, Status
from watcher.storage import NotFound, PreconditionFailed, Storage


def manifests(storage: Storage) -> Iterator[tuple[str, Manifest, str]]:
    """(manifest key, manifest, etag) for every document under the output root."""
    for obj in storage.list():
        input_key = input_key_of_manifest(obj.key, keys_are_paths=storage.keys_are_paths)
        if is_state_key(obj.key) or input_key is None:
            continue
        try:
            data, etag = storage.get(obj.key)
            yield obj.key, Manifest.from_bytes(data), etag
        except NotFound:
            continue


def status_report(storage: Storage, *, every: bool = False) -> str:
    rows = sorted(manifests(storage), key=lambda r: r[1].source.key)
    counts = Counter(m.status for _, m, _ in rows)
    lines = [f"{storage.uri}: {len(rows)} documents"]
    lines += [f"  {st.value:<11} {counts.get(st, 0)}" for st in Status]
    if every:
        lines += ["", f"{'status':<11} {'pages':>9} {'tries':>5}  {'finished (UTC)':<19}  document"]
        for _, m, _ in rows:
            pages = f"{m.pages.done}/{m.pages.total}"
            finished = f"{m.finished_at:%Y-%m-%d %H:%M:%S}" if m.finished_at else "-"
            lines.append(f"{m.status.value:<11} {pages:>9} {m.attempts:>5}  {finished:<19}  {m.source.key}")
    failed = [m for _, m, _ in rows if m.status is Status.FAILED]
    if failed:
        lines.append("")
        lines.append("failures:")
        for m in failed:
            err = m.error
            retry = f"retry at {m.next_attempt_at:%Y-%m-%d %H:%M:%S}Z" if m.next_attempt_at else "final"
            lines.append(f"  {m.source.key}  [{err.type if err else '?'}; attempts {m.attempts}; {retry}]")
            lines.append(f"      {err.message if err else ''}")
    partial = [m for _, m, _ in rows if m.status is Status.PARTIAL]
    if partial:
        lines.append("")
        lines.append("partial (published with failed pages; `docwatch retry --partial` converts them):")
        for m in partial:
            nums = ", ".join(str(p.number) for p in m.pages.failed)
            lines.append(f"  {m.source.key}  pages {nums} of {m.pages.total}")
    return "\n".join(lines)


def status_json(storage: Storage) -> str:
    """Counts by status and every document (key, status, pages, attempts, error) as JSON."""
    rows = sorted(manifests(storage), key=lambda r: r[1].source.key)
    counts = Counter(m.status for _, m, _ in rows)
    docs = [
        {"key": m.source.key, "status": m.status.value, "pages_total": m.pages.total, "pages_done": m.pages.done,
         "pages_failed": [p.number for p in m.pages.failed], "attempts": m.attempts,
         "error": {"type": m.error.type, "message": m.error.message} if m.error else None,
         "finished_at": m.finished_at.isoformat() if m.finished_at else None}
        for _, m, _ in rows
    ]
    counts_out = {st.value: counts.get(st, 0) for st in Status}
    return json.dumps({"store": storage.uri, "counts": counts_out, "documents": docs}, ensure_ascii=False, indent=2)


def any_failed(storage: Storage) -> bool:
    """A document failed, or one was published with failed pages."""
    return any(m.status is Status.FAILED or m.pages.failed for _, m, _ in manifests(storage))


def known_keys(storage: Storage) -> set[str]:
    """The input keys that have a manifest."""
    return {m.source.key for _, m, _ in manifests(storage)}


def requeue(
    storage: Storage, keys: list[str] | None = None, *, failed: bool = False, partial: bool = False
) -> list[str]:
    """Mark documents queued again (fresh attempts) so running daemons take them up. A partial
    document resumes from its page checkpoints: only its missing pages are converted."""
    index = DoneIndex(storage)
    done: list[str] = []
    for key, m, etag in manifests(storage):
        wanted = ((failed and m.status is Status.FAILED) or (partial and m.status is Status.PARTIAL)
                  or (keys is not None and m.source.key in keys))
        if not wanted or m.status is Status.PROCESSING:
            continue
        queued = m.model_copy(update={"status": Status.QUEUED, "attempts": 0, "error": None, "next_attempt_at": None})
        try:
            storage.compare_and_swap(key, queued.to_bytes(), etag, content_type="application/json")
        except PreconditionFailed:
            continue  # changed under us: a daemon is on it
        if m.status is Status.PARTIAL:  # its failed pages are converted again; the rest resume
            forget_pages(storage, m.source.key, [f.number for f in m.pages.failed])
        index.forget_key(m.source.key)
        done.append(m.source.key)
    if done:  # daemons compare this object's etag each poll and reload their done index
        storage.put(EPOCH_KEY, uuid.uuid4().hex.encode())
    return done


__all__ = ["any_failed", "known_keys", "manifests", "requeue", "status_json", "status_report"]
