"""The Storage contract, over real HTTP against moto's S3 server and against a local folder.

One contract, two backends: every ``test_contract_*`` runs on both. S3-only behaviour
(multipart, check() errors, conditional-write detection, faults on the wire) follows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr

from watcher.claims import Claim, Claims
from watcher.manifest import Status
from watcher.settings import S3Settings
from watcher.storage import LocalStorage, NotFound, PreconditionFailed, Storage, StorageError, open_storage
from watcher.storage.s3 import S3Storage

try:
    from tests.fault_proxy import FaultProxy, FaultRates
    from tests.s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # noqa: F401
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from fault_proxy import FaultProxy, FaultRates  # type: ignore[no-redef]
    from s3_server import MotoS3, moto_s3, s3_bucket, s3_endpoint  # type: ignore[no-redef] # noqa: F401


def s3(endpoint: str, bucket: str, prefix: str = "in/", **options: object) -> S3Storage:
    settings = S3Settings(endpoint_url=endpoint, addressing_style="path", **options)  # type: ignore[arg-type]
    return S3Storage.from_uri(f"s3://{bucket}/{prefix}", settings)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "root", create=True)
    moto: MotoS3 = request.getfixturevalue("moto_s3")
    return s3(moto.url, moto.new_bucket())


# -- the contract, both backends ---------------------------------------------------------
def test_contract_roundtrip(storage: Storage) -> None:
    etag = storage.put("a/b/doc.pdf", b"hello", content_type="application/pdf")
    data, got_etag = storage.get("a/b/doc.pdf")
    assert data == b"hello" and got_etag == etag
    info = storage.head("a/b/doc.pdf")
    assert info is not None and info.size == 5 and info.etag == etag and info.key == "a/b/doc.pdf"
    assert storage.put("a/b/doc.pdf", b"hello again") != etag  # a new version, a new etag
    storage.check()


def test_contract_missing(storage: Storage, tmp_path: Path) -> None:
    assert storage.head("nope.pdf") is None
    with pytest.raises(NotFound):
        storage.get("nope.pdf")
    with pytest.raises(NotFound):
        storage.download("nope.pdf", tmp_path / "x")
    storage.delete("nope.pdf")  # not an error
    assert list(storage.list()) == []


def test_contract_list_delete_copy(storage: Storage) -> None:
    for key in ["x.pdf", "d/y.pdf", "d/e/z.png", "other/w.pdf"]:
        storage.put(key, key.encode())
    assert sorted(i.key for i in storage.list()) == ["d/e/z.png", "d/y.pdf", "other/w.pdf", "x.pdf"]
    assert sorted(i.key for i in storage.list("d/")) == ["d/e/z.png", "d/y.pdf"]
    storage.copy("d/y.pdf", "done/d/y.pdf")
    assert storage.get("done/d/y.pdf")[0] == b"d/y.pdf"
    storage.delete("d/y.pdf")
    assert storage.head("d/y.pdf") is None
    assert sorted(i.key for i in storage.list("d/")) == ["d/e/z.png"]


def test_contract_download(storage: Storage, tmp_path: Path) -> None:
    storage.put("f/doc.pdf", b"%PDF-1.7 body")
    dest = tmp_path / "dl" / "doc.pdf"
    dest.parent.mkdir()
    storage.download("f/doc.pdf", dest)
    assert dest.read_bytes() == b"%PDF-1.7 body"
    assert [p.name for p in dest.parent.iterdir()] == ["doc.pdf"]  # no temp file left


def test_contract_download_only_the_version_asked_for(storage: Storage, tmp_path: Path) -> None:
    first = storage.put("doc.pdf", b"first version")
    storage.put("doc.pdf", b"second version, longer")
    with pytest.raises(PreconditionFailed):
        storage.download("doc.pdf", tmp_path / "old", etag=first)
    current = storage.head("doc.pdf")
    storage.download("doc.pdf", tmp_path / "new", etag=current.etag)
    assert (tmp_path / "new").read_bytes() == b"second version, longer"


def test_contract_put_if_absent(storage: Storage) -> None:
    etag = storage.put_if_absent("m/manifest.json", b"{1}", content_type="application/json")
    with pytest.raises(PreconditionFailed):
        storage.put_if_absent("m/manifest.json", b"{2}")
    assert storage.get("m/manifest.json") == (b"{1}", etag)


def test_contract_compare_and_swap(storage: Storage) -> None:
    first = storage.put_if_absent("m.json", b"v1")
    second = storage.compare_and_swap("m.json", b"v2", first)
    assert storage.get("m.json") == (b"v2", second)
    with pytest.raises(PreconditionFailed):
        storage.compare_and_swap("m.json", b"v3-stale", first)
    with pytest.raises(PreconditionFailed):
        storage.compare_and_swap("never-written.json", b"v1", second)
    assert storage.get("m.json")[0] == b"v2"


def test_contract_concurrent_writers_one_winner(storage: Storage) -> None:
    def create(i: int) -> bool:
        try:
            storage.put_if_absent("race/manifest.json", f"writer {i}".encode())
            return True
        except PreconditionFailed:
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(create, range(16))) == 1
    _, etag = storage.get("race/manifest.json")

    def swap(i: int) -> bool:
        try:
            storage.compare_and_swap("race/manifest.json", f"swap {i}".encode(), etag)
            return True
        except PreconditionFailed:
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(swap, range(16))) == 1


WEIRD_KEYS = [
    "with space/my report (final).pdf",
    "кириллица/Отчёт за 2024 год.pdf",
    "emoji 📄/naïve café.png",
    "percent%20and+plus&amp=;?.pdf",
    "/".join(["d" * 200] * 4) + "/" + "n" * 90 + ".pdf",  # ~900 bytes, segments < 255 for folders
]


@pytest.mark.parametrize("key", WEIRD_KEYS)
def test_contract_weird_keys(storage: Storage, key: str) -> None:
    etag = storage.put(key, b"data")
    assert storage.get(key) == (b"data", etag)
    assert [i.key for i in storage.list()] == [key]
    manifest = f"out/{key}/manifest.json"  # a folder can't share a name with a file
    storage.put_if_absent(manifest, b"{}")
    assert storage.head(manifest) is not None
    storage.delete(key)
    assert [i.key for i in storage.list()] == [manifest]


def test_dotdot_keys_s3_literal_local_refused(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    inside = s3(moto_s3.url, bucket, "in/")
    for key in ["a/../b.pdf", "../escape.pdf", "a/./b.pdf", "a//b.pdf"]:
        inside.put(key, key.encode())
        assert inside.get(key)[0] == key.encode()
    # S3 keys are opaque: nothing resolved, nothing written outside the prefix.
    whole = s3(moto_s3.url, bucket, "")
    assert sorted(i.key for i in whole.list()) == sorted(
        ["in/a/../b.pdf", "in/../escape.pdf", "in/a/./b.pdf", "in/a//b.pdf"]
    )
    local = LocalStorage(tmp_path / "root", create=True)
    for key in ["a/../b.pdf", "../escape.pdf"]:
        with pytest.raises(StorageError):
            local.put(key, b"x")
    assert not (tmp_path / "escape.pdf").exists()


# -- S3 only -------------------------------------------------------------------------------
def test_prefix_isolation_and_uri(moto_s3: MotoS3, s3_bucket: str) -> None:
    a, b = s3(moto_s3.url, s3_bucket, "a"), s3(moto_s3.url, s3_bucket, "ab/")
    a.put("x.pdf", b"1")
    b.put("y.pdf", b"2")
    assert a.uri == f"s3://{s3_bucket}/a/" and [i.key for i in a.list()] == ["x.pdf"]
    assert [i.key for i in b.list()] == ["y.pdf"]
    root = open_storage(f"s3://{s3_bucket}", S3Settings(endpoint_url=moto_s3.url))
    assert sorted(i.key for i in root.list()) == ["a/x.pdf", "ab/y.pdf"]


def test_list_paginates(moto_s3: MotoS3, s3_bucket: str) -> None:
    storage = s3(moto_s3.url, s3_bucket)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: storage.put(f"many/{i:05d}.pdf", b"x"), range(1100)))
    keys = [i.key for i in storage.list()]
    assert len(keys) == 1100 == len(set(keys))


def test_multipart_put(moto_s3: MotoS3, s3_bucket: str) -> None:
    storage = s3(moto_s3.url, s3_bucket, multipart_threshold_mb=5)
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256 + 1)  # ~12 MiB: three parts
    etag = storage.put("big/out.json", data, content_type="application/json")
    assert etag.endswith("-3")  # S3's multipart ETag: <md5 of part md5s>-<parts>
    got, got_etag = storage.get("big/out.json")
    assert got == data and got_etag == etag
    small = storage.put("big/small.json", b"{}")
    assert "-" not in small


def test_check_missing_bucket(moto_s3: MotoS3) -> None:
    storage = s3(moto_s3.url, "no-such-bucket-here")
    with pytest.raises(StorageError, match="does not exist"):
        storage.check()


def test_check_access_denied(moto_s3: MotoS3, s3_bucket: str) -> None:
    proxy = FaultProxy(moto_s3.url).start()
    try:
        proxy.script.extend(["denied"])
        with pytest.raises(StorageError, match="access denied to s3://.*s3:ListBucket"):
            s3(proxy.url, s3_bucket).check()
    finally:
        proxy.stop()


def test_check_and_probe_ride_out_transient_faults(moto_s3: MotoS3, s3_bucket: str) -> None:
    proxy = FaultProxy(moto_s3.url).start()
    try:
        storage = s3(proxy.url, s3_bucket, retry_mode="standard", max_attempts=1)
        proxy.script.extend(["error500", "reset_before", "slowdown"])  # the quick client's 3 attempts
        storage.check()  # then the full budget
        proxy.script.extend(["error500", "error500"])  # the probe's first create, retried once
        with pytest.raises(StorageError):  # no answer is not a "no"...
            storage.supports_conditional_writes()
        assert storage.supports_conditional_writes() is True  # ...and was not cached
    finally:
        proxy.stop()


def test_endpoint_from_aws_endpoint_url(moto_s3: MotoS3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.url)  # boto3 reads it itself
    storage = open_storage(f"s3://{s3_bucket}/env/", S3Settings(addressing_style="path"))
    storage.put("k.pdf", b"x")
    storage.check()
    assert [i.key for i in storage.list()] == ["k.pdf"]


def test_check_unreachable_endpoint_fails_fast() -> None:
    with socket_free_port() as port:
        storage = s3(f"http://127.0.0.1:{port}", "bucket-x", connect_timeout=1.0)
        start = time.monotonic()
        with pytest.raises(StorageError, match="cannot reach"):
            storage.check()
        assert time.monotonic() - start < 15


def test_secrets_stay_secret(moto_s3: MotoS3, s3_bucket: str) -> None:
    settings = S3Settings(
        endpoint_url=moto_s3.url,
        access_key_id=SecretStr("AKIAEXAMPLESECRET1"),
        secret_access_key=SecretStr("very-secret-value"),
    )
    storage = S3Storage.from_uri(f"s3://{s3_bucket}/p/", settings)
    storage.put("k", b"v")  # the explicit keys are used (moto accepts any)
    text = repr(storage) + str(vars(storage))
    assert "very-secret-value" not in text and "AKIAEXAMPLESECRET1" not in text


def test_conditional_write_detection(moto_s3: MotoS3, s3_bucket: str) -> None:
    storage = s3(moto_s3.url, s3_bucket)
    assert storage.supports_conditional_writes() is True
    assert storage.supports_conditional_writes() is True  # cached
    assert list(s3(moto_s3.url, s3_bucket, "").list()) == []  # the probe cleaned up
    # A store that ignores If-None-Match/If-Match (simulated by stripping the headers).
    proxy = FaultProxy(moto_s3.url).start()
    try:
        proxy.strip_headers = {"if-none-match", "if-match"}
        assert s3(proxy.url, s3_bucket).supports_conditional_writes() is False
    finally:
        proxy.stop()


def test_conditional_write_whose_answer_was_lost(moto_s3: MotoS3, s3_bucket: str) -> None:
    """The write lands, the answer is dropped, botocore retries and gets 412 against our own
    write: that must count as a win, or a claim would be lost by the worker that made it."""
    proxy = FaultProxy(moto_s3.url).start()
    try:
        storage = s3(proxy.url, s3_bucket, retry_mode="standard", max_attempts=5)
        proxy.script.extend(["reset_after"])
        etag = storage.put_if_absent("m.json", b"mine")
        proxy.script.extend(["reset_after"])
        etag2 = storage.compare_and_swap("m.json", b"mine v2", etag)
        assert storage.get("m.json") == (b"mine v2", etag2)
        assert proxy.stats.faults["reset_after"] == 2
        # A genuine loser still loses, even after a retry.
        proxy.script.extend(["error500"])
        with pytest.raises(PreconditionFailed):
            storage.put_if_absent("m.json", b"theirs")
        proxy.script.extend(["reset_before"])
        with pytest.raises(PreconditionFailed):
            storage.compare_and_swap("m.json", b"theirs", etag)
    finally:
        proxy.stop()


def test_conditional_request_conflict(moto_s3: MotoS3, s3_bucket: str) -> None:
    """409 ConditionalRequestConflict: retried a few times, then reported as a lost race."""
    proxy = FaultProxy(moto_s3.url).start()
    try:
        storage = s3(proxy.url, s3_bucket)
        proxy.script.extend(["conflict", "conflict"])
        etag = storage.put_if_absent("c.json", b"one")
        proxy.script.extend(["conflict"])
        etag = storage.compare_and_swap("c.json", b"two", etag)
        assert storage.get("c.json") == (b"two", etag)
        proxy.script.extend(["conflict"] * 4)
        with pytest.raises(PreconditionFailed):
            storage.compare_and_swap("c.json", b"three", etag)
        assert proxy.stats.faults["conflict"] == 7
    finally:
        proxy.stop()


@pytest.fixture
def faulty(moto_s3: MotoS3) -> Iterator[FaultProxy]:
    rates = FaultRates(
        error500=0.03, slowdown=0.03, reset_before=0.03, reset_after=0.04, truncate=0.04, slow=0.03
    )  # ~20% of requests fail once; botocore's back-off makes higher rates slow to test
    proxy = FaultProxy(moto_s3.url, rates, seed=1234).start()
    yield proxy
    proxy.stop()


def test_through_faults_everything_succeeds(
    moto_s3: MotoS3, s3_bucket: str, faulty: FaultProxy, tmp_path: Path
) -> None:
    storage = s3(faulty.url, s3_bucket, retry_mode="standard", max_attempts=10, multipart_threshold_mb=5)
    clean = s3(moto_s3.url, s3_bucket)
    keys = [f"docs/{i:03d} файл.pdf" for i in range(40)]
    for key in keys:
        storage.put(key, f"body of {key}".encode())
        storage.put_if_absent(f"{key}/manifest.json", f"created {key}".encode())
        _, etag = storage.get(f"{key}/manifest.json")
        storage.compare_and_swap(f"{key}/manifest.json", f"swapped {key}".encode(), etag)
        assert storage.head(key) is not None
    big = b"0123456789abcdef" * (11 * 1024 * 1024 // 16)
    storage.put("big.bin", big)
    for key in keys[:20]:
        storage.copy(key, f"done/{key}")
        storage.delete(key)
    listed = sorted(i.key for i in storage.list())
    assert len(listed) == len(set(listed)) == 20 + 20 + 40 + 1  # inputs left, moved, manifests, big
    for key in keys:  # verified through the clean endpoint: nothing garbled
        assert clean.get(f"{key}/manifest.json")[0] == f"swapped {key}".encode()
    for i, key in enumerate(keys[20:]):
        assert clean.get(key)[0] == f"body of {key}".encode()
        storage.download(key, tmp_path / f"{i}.pdf")  # streamed bodies are cut short too
        assert (tmp_path / f"{i}.pdf").read_bytes() == f"body of {key}".encode()
    for key in keys[:20]:
        assert clean.get(f"done/{key}")[0] == f"body of {key}".encode()
        assert clean.head(key) is None
    assert clean.get("big.bin")[0] == big
    assert faulty.stats.faults["reset_after"] > 3 and faulty.stats.faults["truncate"] > 0, faulty.stats.faults


def test_claims_through_faults_exactly_once(moto_s3: MotoS3, s3_bucket: str, faulty: FaultProxy) -> None:
    """Two workers race for 30 documents through the faulty wire: each claimed once."""
    inputs = s3(moto_s3.url, s3_bucket, "in/")
    for i in range(30):
        inputs.put(f"{i:02d}.pdf", b"%PDF")
    items = list(inputs.list())
    won: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(name: str) -> None:
        out = s3(faulty.url, s3_bucket, "out/", retry_mode="standard", max_attempts=10)
        claims = Claims(out, name, lease_seconds=60, max_attempts=3)
        for item in items:
            claim = claims.try_claim(item, f"s3://{s3_bucket}/in/{item.key}")
            if isinstance(claim, Claim):
                with lock:
                    won.setdefault(item.key, []).append(name)
                assert claim.finish(claim.manifest.model_copy(update={"status": Status.SUCCEEDED}))

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == sorted(i.key for i in items)
    assert all(len(v) == 1 for v in won.values()), won
    check = Claims(s3(moto_s3.url, s3_bucket, "out/"), "checker", 60, 3)
    for item in items:
        manifest, _ = check.read(item.key) or (None, None)
        assert manifest is not None and manifest.status is Status.SUCCEEDED and manifest.attempts == 1


class socket_free_port:
    """A port with nothing listening (bound then released)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        pass



def test_contract_list_takes_a_string_prefix(storage: Storage) -> None:
    for key in ("docs/a.pdf", "docs/ab.pdf", "docs/b/c.pdf", "docsx/d.pdf"):
        storage.put(key, b"x")
    assert sorted(o.key for o in storage.list("docs/a")) == ["docs/a.pdf", "docs/ab.pdf"]
    assert sorted(o.key for o in storage.list("docs/")) == ["docs/a.pdf", "docs/ab.pdf", "docs/b/c.pdf"]
    assert sorted(o.key for o in storage.list("docs")) == ["docs/a.pdf", "docs/ab.pdf", "docs/b/c.pdf", "docsx/d.pdf"]
    assert list(storage.list("nothing/here")) == []
