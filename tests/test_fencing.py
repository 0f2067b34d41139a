"""Fencing under a cut-off replica's delayed requests, against S3 over HTTP (moto).

A deterministic adversary: replica A's store holds one chosen request (the read after a 412,
an output PUT, a checkpoint delete) until replica B has taken the document over and its
manifest says succeeded, then lets it go. Whatever A's late request does, no succeeded manifest
may list an output whose stored bytes differ from the sha256 it records."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from processor.document import BBox, Block, BlockType, Document, EngineInfo, InputFormat, Page, PageUnit, SourceInfo
from processor.engines import PageResult
from tests.s3_server import MotoS3, moto_s3, s3_bucket  # noqa: F401
from tests.test_s3_storage import s3
from watcher import outcome
from watcher.checkpoints import Checkpoints
from watcher.claims import Claim, Claims
from watcher.manifest import Manifest, Status
from watcher.publish import Fenced, publish
from watcher.storage import ObjectInfo
from watcher.storage.s3 import S3Storage

LEASE = 5.0  # the shortest lease settings allow


class Held(S3Storage):
    """An S3 store whose chosen request (method, a part of its key) waits, once, until released."""

    def hold(self, method: str, suffix: str) -> None:
        self.held, self.reached, self.release = (method, suffix), threading.Event(), threading.Event()

    def _maybe_wait(self, method: str, key: str) -> None:
        held = getattr(self, "held", None)
        if held and held[0] == method and held[1] in key and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(60), "the adversary never let the request go"

    def get(self, key: str):
        self._maybe_wait("read", key)
        return super().get(key)

    def head(self, key: str):
        self._maybe_wait("read", key)
        return super().head(key)

    def compare_and_swap(self, key: str, data: bytes, etag: str, *args, **kw) -> str:
        self._maybe_wait("write", key)
        return super().compare_and_swap(key, data, etag, *args, **kw)

    def delete(self, key: str, etag: str | None = None) -> None:
        self._maybe_wait("delete", key)
        super().delete(key, etag)

    def list(self, prefix: str = ""):
        self._maybe_wait("list", prefix)
        return super().list(prefix)


def _store(moto: MotoS3, bucket: str, cls: type[S3Storage] = S3Storage) -> S3Storage:
    plain = s3(moto.url, bucket, "out/")
    store = cls.__new__(cls)
    store.__dict__.update(plain.__dict__)
    return store


def _doc(text: str) -> Document:
    page = Page(number=1, width=100, height=100, unit=PageUnit.POINT,
                blocks=[Block(type=BlockType.TEXT, bbox=BBox(x0=0, y0=0, x1=10, y1=10), text=text, order=0)])
    source = SourceInfo(name="a.pdf", format=InputFormat.PDF, size=1, sha256="0" * 64, page_count=1)
    return Document(source=source, engine=EngineInfo(name="test", version="1"), pages=[page])


def _item(etag: str) -> ObjectInfo:
    from datetime import UTC, datetime

    return ObjectInfo(key="a.pdf", size=10, etag=etag, modified=datetime.now(UTC))


def _claim(store: S3Storage, worker: str, item: ObjectInfo) -> Claim:
    claim = Claims(store, worker, LEASE, max_attempts=3).try_claim(item, "s3://in/a.pdf")
    assert isinstance(claim, Claim), claim
    return claim


def _publish_and_finish(store: S3Storage, claim: Claim, doc: Document) -> Manifest:
    outputs = publish(store, "a.pdf", doc, claim.manifest.outputs, claim.prove, fence=claim.manifest.fence)
    final = outcome.succeeded(claim.manifest, doc, outputs, {})
    assert claim.finish(final)
    return final


def _assert_outputs_intact(store: S3Storage) -> Manifest:
    manifest = Manifest.from_bytes(store.get("a.pdf/manifest.json")[0])
    assert manifest.status is Status.SUCCEEDED and manifest.outputs
    for out in manifest.outputs:
        data, _ = store.get(out.key)
        assert hashlib.sha256(data).hexdigest() == out.sha256, f"{out.key} was overwritten after B's manifest"
    return manifest


def _late(target, *args) -> tuple[threading.Thread, list]:
    """Run A's publish in a thread; what it raised (or returned) lands in the list."""
    result: list = []

    def run() -> None:
        try:
            result.append(target(*args))
        except Exception as exc:  # noqa: BLE001
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.slow
def test_a_read_after_412_delayed_past_the_takeover_cannot_overwrite(moto_s3: MotoS3, s3_bucket: str):  # noqa: F811
    """A finds its output key written by an attempt that died mid-publish (412), proves its claim,
    and its read of the key is held until B has taken over and published."""
    a_store, b_store = _store(moto_s3, s3_bucket, Held), _store(moto_s3, s3_bucket)
    b_store.put("a.pdf/a.md", b"left by an attempt that died mid-publish")
    a = _claim(a_store, "A", _item("v1"))
    a_store.hold("read", "a.pdf/a.md")
    thread, result = _late(publish, a_store, "a.pdf", _doc("A's text"), a.manifest.outputs, a.prove, lambda x: x.data,
                           a.manifest.fence)
    assert a_store.reached.wait(30)
    time.sleep(LEASE + 0.5)  # A is cut off: its lease runs out
    b = _claim(b_store, "B", _item("v1"))
    assert b.manifest.fence > a.manifest.fence
    _publish_and_finish(b_store, b, _doc("B's text"))
    a_store.release.set()
    thread.join(30)
    assert isinstance(result[0], Fenced), result
    _assert_outputs_intact(b_store)


@pytest.mark.slow
def test_a_late_put_meets_bytes_identical_to_what_it_conditioned_on(moto_s3: MotoS3, s3_bucket: str):  # noqa: F811
    """B writes the very bytes A's late write conditioned on (the input reverted to an earlier
    version, deterministic Markdown): with the claim's number in the bytes the ETag still moves."""
    a_store, b_store = _store(moto_s3, s3_bucket, Held), _store(moto_s3, s3_bucket)
    first = _claim(b_store, "first", _item("v1"))
    _publish_and_finish(b_store, first, _doc("Version one."))
    a = _claim(a_store, "A", _item("v2"))  # a new upload: A converts other text
    a_store.hold("write", "a.pdf/a.md")
    thread, result = _late(publish, a_store, "a.pdf", _doc("Version two."), a.manifest.outputs, a.prove,
                           lambda x: x.data, a.manifest.fence)
    assert a_store.reached.wait(30)
    time.sleep(LEASE + 0.5)
    b = _claim(b_store, "B", _item("v1"))  # the input reverted to version one's bytes
    _publish_and_finish(b_store, b, _doc("Version one."))
    a_store.release.set()
    thread.join(30)
    assert isinstance(result[0], Fenced), result
    manifest = _assert_outputs_intact(b_store)
    assert "Version one." in b_store.get("a.pdf/a.md")[0].decode() and manifest.fence == b.manifest.fence


@pytest.mark.slow
def test_a_late_checkpoint_clear_leaves_a_live_attempts_pages(moto_s3: MotoS3, s3_bucket: str):  # noqa: F811
    """A published version one and clears its checkpoints; its requests are held while B converts
    version two and checkpoints its pages: B's pages stay."""
    a_store, b_store = _store(moto_s3, s3_bucket, Held), _store(moto_s3, s3_bucket)
    engine = EngineInfo(name="test", version="1")
    page = _doc("x").pages[0]
    mine = Checkpoints(a_store, "a.pdf", "1" * 64, engine, 144)
    theirs = Checkpoints(b_store, "a.pdf", "2" * 64, engine, 144)
    mine.save(PageResult(page.model_copy(update={"number": 1})))
    a_store.hold("list", "a.pdf/pages/")  # the listing that decides what A deletes
    thread, _ = _late(mine.clear)
    assert a_store.reached.wait(30)
    for n in (1, 2):
        theirs.save(PageResult(page.model_copy(update={"number": n})))
    a_store.release.set()
    thread.join(30)
    assert sorted(theirs.load()) == [1, 2] and mine.load() == {}


def test_stamps_leave_what_readers_see_and_are_read_back(tmp_path: Path):
    from watcher import fence

    png = _png()
    for data, ctype in ((b"# Title\n\ntext\n", "text/markdown; charset=utf-8"), (b'{\n "a": 1}', "application/json"),
                        (png, "image/png")):
        stamped = fence.stamp(data, ctype, 7)
        assert stamped != data and fence.read(stamped) == 7 and fence.read(data) is None
    assert fence.stamp(b'{\n "a": 1}', "application/json", 7).startswith(b'{\n "docwatch_fence": 7,')
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(fence.stamp(png, "image/png", 7))).load() is not None  # still a valid PNG
    import json

    assert json.loads(fence.stamp(b'{\n "a": 1}', "application/json", 7)) == {"docwatch_fence": 7, "a": 1}


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buf, format="PNG")
    return buf.getvalue()
