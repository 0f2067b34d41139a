"""Final manifests: what a finished attempt records."""

from __future__ import annotations

from datetime import timedelta

from processor.backoff import backoff as jittered
from processor.document import Document, ErrorInfo
from watcher.manifest import Manifest, OutputRecord, PageFailure, PagesSummary, Stage, Status, utcnow


def succeeded(
    manifest: Manifest, doc: Document, outputs: list[OutputRecord], timings: dict[Stage, float]
) -> Manifest:
    failed = [PageFailure(number=p.number, error=p.error) for p in doc.failed_pages if p.error]
    fallbacks: dict[str, int] = {}
    for page in doc.pages:
        for fallback in page.fallbacks:
            fallbacks[fallback.stage.value] = fallbacks.get(fallback.stage.value, 0) + 1
    pages = PagesSummary(total=len(doc.pages), done=len(doc.pages) - len(failed), failed=failed, fallbacks=fallbacks)
    # a page missing (failed for good, or still failing after the last attempt) is not a whole document
    status, error = (Status.PARTIAL if failed else Status.SUCCEEDED), None
    if doc.pages and not doc.ok:  # every page failed: nothing useful was produced
        status = Status.FAILED
        first = failed[0].error if failed else None
        error = ErrorInfo(
            type="AllPagesFailed",
            message=f"all {len(doc.pages)} pages failed; first: {first.message if first else 'unknown'}",
            retryable=bool(first and first.retryable),
        )
    return manifest.model_copy(
        update={
            "status": status,
            "pages": pages,
            "engine": doc.engine,
            "outputs": outputs,
            "timings": timings,
            "error": error,
            "finished_at": utcnow(),
            "next_attempt_at": None,
        }
    )


def unchanged(manifest: Manifest, previous: Manifest, timings: dict[Stage, float]) -> Manifest:
    """Same bytes as an earlier success (e.g. a file copied in again): keep its outputs."""
    return manifest.model_copy(
        update={
            "status": Status.SUCCEEDED,
            "pages": previous.pages,
            "engine": previous.engine,
            "outputs": previous.outputs,
            "timings": timings,
            "finished_at": utcnow(),
            "attempts": previous.attempts,
        }
    )


def failed(
    manifest: Manifest, error: ErrorInfo, timings: dict[Stage, float], max_attempts: int, backoff: float
) -> Manifest:
    retry = error.retryable and manifest.attempts < max_attempts
    next_at = utcnow() + timedelta(seconds=jittered(backoff, manifest.attempts)) if retry else None
    return manifest.model_copy(
        update={
            "status": Status.FAILED,
            "error": error,
            "timings": timings,
            "finished_at": utcnow(),
            "next_attempt_at": next_at,
        }
    )


def released(manifest: Manifest, *, alone: bool = False) -> Manifest:
    """Handed back (shutdown, engine restarted): queued again, and this attempt does not count.
    ``alone``: the engine crashed while it shared it; its next attempt runs alone and counts."""
    return manifest.model_copy(update={"status": Status.QUEUED, "attempts": max(manifest.attempts - 1, 0),
                                       "worker_id": None,
                                "solo": alone})



def passing_failures(doc: Document) -> ErrorInfo | None:
    """Pages that failed for a reason that may pass (a VL server's 503, a timeout) after their
    retries within the attempt: the document is not done. The next attempt, after the usual
    back-off, converts only them (the rest are checkpointed). On the last attempt the document
    is published as ``partial``, its checkpoints kept for `docwatch retry --partial`."""
    passing = [page for page in doc.failed_pages if page.may_pass]
    if not passing:
        return None
    numbers = ", ".join(str(page.number) for page in passing)
    return ErrorInfo(type="PagesIncomplete", retryable=True,
                     message=f"pages {numbers} failed for a reason that may pass ({passing[0].error.message}); "
                     "the next attempt converts only the pages not done yet")
