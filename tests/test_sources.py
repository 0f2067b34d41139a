"""The sources seam without a daemon: when the listing runs, what build_sources refuses,
re-offered retries, and settling (fast; local folders only)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.claims import Claim, Claims
from watcher.discovery import Discovery, DoneIndex, KeyFilter
from watcher.manifest import Status
from watcher.metrics import Metrics
from watcher.settings import Settings
from watcher.sources.hub import Sources, build_sources
from watcher.sources.folder import FolderEvents
from watcher.sources.listing import Listing
from watcher.status import requeue
from watcher.storage import LocalStorage, StorageError


def folders(tmp_path: Path) -> tuple[LocalStorage, LocalStorage]:
    (tmp_path / "in").mkdir()
    return LocalStorage(tmp_path / "in"), LocalStorage(tmp_path / "out", create=True)


def old_file(path: Path) -> None:
    path.write_bytes(b"%PDF-1.4 x")
    os.utime(path, (1, 1))  # written long ago: settled


def test_reconciling_listing_runs_at_start_then_only_when_due_or_requeued(tmp_path: Path) -> None:
    src, out = folders(tmp_path)
    done = DoneIndex(out)
    done.refresh()
    listing = Listing(Discovery(src, done, KeyFilter(["*"], []), settle_seconds=0, min_age_seconds=0), done, every=3600)
    old_file(tmp_path / "in" / "a.pdf")
    assert [o.key for o in listing.poll()] == ["a.pdf"]  # at start
    old_file(tmp_path / "in" / "b.pdf")
    assert listing.poll() == []  # not due: events bring new files in
    done.mark(src.head("a.pdf"))  # type: ignore[arg-type]
    claim = Claims(out, "w", 30, 3).try_claim(src.head("a.pdf"), "in/a.pdf")  # type: ignore[arg-type]
    assert isinstance(claim, Claim)
    claim.finish(claim.manifest.model_copy(update={"status": Status.FAILED}))
    assert requeue(out, ["a.pdf"]) == ["a.pdf"]
    assert done.refresh() is not None  # the epoch changed: reloaded
    assert sorted(o.key for o in listing.poll()) == ["a.pdf", "b.pdf"]  # `docwatch retry` asks for a listing


def test_polling_listing_lists_every_time(tmp_path: Path) -> None:
    src, out = folders(tmp_path)
    done = DoneIndex(out)
    listing = Listing(Discovery(src, done, KeyFilter(["*"], []), settle_seconds=0, min_age_seconds=0), done)
    old_file(tmp_path / "in" / "a.pdf")
    assert [o.key for o in listing.poll()] == ["a.pdf"]
    assert [o.key for o in listing.poll()] == ["a.pdf"]


def test_events_need_an_s3_input_and_once_means_the_listing_alone(tmp_path: Path) -> None:
    src, out = folders(tmp_path)
    s = Settings(input=str(tmp_path / "in"), output=str(tmp_path / "out"),
                 events={"sqs_queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"})  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="s3://"):
        build_sources(s, src, out, Metrics())
    kinds = [type(x) for x in build_sources(s, src, out, Metrics(), once=True).sources]
    assert kinds == [Listing]
    plain = Settings(input=str(tmp_path / "in"), output=str(tmp_path / "out"))
    assert [type(x) for x in build_sources(plain, src, out, Metrics()).sources] == [Listing, FolderEvents]


def test_a_scheduled_retry_is_offered_again_when_due(tmp_path: Path) -> None:
    src, out = folders(tmp_path)
    done = DoneIndex(out)
    sources = Sources([], done, Metrics())
    old_file(tmp_path / "in" / "a.pdf")
    item = src.head("a.pdf")
    assert item is not None
    sources.retry_at(item, datetime.now(UTC) + timedelta(seconds=0.3))
    assert sources.poll() == []
    time.sleep(0.4)
    assert sources.poll() == [item]
    assert sources.poll() == []  # once
