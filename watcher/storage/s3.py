"""An S3 bucket prefix as storage (AWS or any S3-compatible endpoint).

Keys are opaque S3 keys relative to the prefix: spaces, Unicode, ``..`` segments are just
bytes in a key, nothing is ever resolved against a filesystem. Conditional writes use
``If-None-Match: *`` (create) and ``If-Match: <etag>`` (replace); stores that ignore those
headers are detected by :meth:`S3Storage.supports_conditional_writes`.

Credentials come from boto3's chain (env, profile, instance/IRSA role) unless the user put
keys in S3Settings; they live only inside the boto3 session, never in attributes or logs.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
)

from processor.backoff import backoff
from processor.redact import redact_urls
from watcher.storage.base import NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError
from watcher.storage.s3_answers import (
    BODY_ERRORS,
    error_code,
    http_status,
    is_precondition,
    quote_etag,
    transient,
    unquote_etag,
)
from watcher.storage.s3_budget import bound_calls, call_seconds_at_most
from watcher.storage.s3_probe import probe_conditional_writes

if TYPE_CHECKING:
    from watcher.settings import S3Settings

_PART_MIN = 5 * 1024 * 1024  # S3's smallest allowed part (except the last)
_BODY_TRIES = 4
_CONFLICT_TRIES = 4  # 409 ConditionalRequestConflict: retried, then a lost race
T = TypeVar("T")


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None) -> None:
        from watcher.settings import S3Settings

        if not bucket:
            raise StorageError("an S3 URI needs a bucket: s3://bucket/prefix/")
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.uri = f"s3://{bucket}/{self.prefix}"
        self.settings = settings or S3Settings()
        self._client = _make_client(self.settings, self.settings.max_attempts)
        self.longest_call = call_seconds_at_most(self.settings.connect_timeout, self.settings.read_timeout)
        self._threshold = self.settings.multipart_threshold_mb * 1024 * 1024
        self._conditional: bool | None = None
        self._probe_lock = threading.Lock()

    @classmethod
    def from_uri(cls, uri: str, settings: object | None = None) -> S3Storage:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix/)")
        return cls(parsed.netloc, parsed.path, settings)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # never the settings: they may hold keys
        return f"S3Storage({self.uri!r})"

    # -- reads -----------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix) :]
                    if not key or key.endswith("/"):
                        continue  # folder placeholders made by consoles are not objects to us
                    yield ObjectInfo(
                        key=key, size=obj["Size"], etag=unquote_etag(obj["ETag"]),
                        modified=obj["LastModified"],
                    )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", prefix) from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            r = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if http_status(exc) == 404:
                return None
            raise self._error(exc, "head", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "head", key) from exc
        etag = unquote_etag(r["ETag"])
        return ObjectInfo(key=key, size=r["ContentLength"], etag=etag, modified=r["LastModified"])

    def get(self, key: str) -> tuple[bytes, str]:
        def once() -> tuple[bytes, str]:
            r = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = r["Body"]
            try:
                data = body.read()
            finally:
                body.close()
            if len(data) != r["ContentLength"]:  # a short body must never pass for the object
                raise IncompleteReadError(actual_bytes=len(data), expected_bytes=r["ContentLength"])
            return data, unquote_etag(r["ETag"])

        return self._reading(once, "get", key)

    def download(self, key: str, dest: Path, *, etag: str | None = None) -> None:
        # The temp name comes from a hash, never from the key: keys may hold anything.
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".dl-{hashlib.sha256(key.encode()).hexdigest()[:24]}-{uuid.uuid4().hex[:8]}.tmp"

        def once() -> None:
            match = {"IfMatch": quote_etag(etag)} if etag else {}
            r = self._client.get_object(Bucket=self.bucket, Key=self._key(key), **match)
            written = 0
            with tmp.open("wb") as f:
                for chunk in r["Body"].iter_chunks(1024 * 1024):
                    f.write(chunk)
                    written += len(chunk)
            if written != r["ContentLength"]:
                raise IncompleteReadError(actual_bytes=written, expected_bytes=r["ContentLength"])

        try:
            self._reading(once, "download", key)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    # -- writes ----------------------------------------------------------------
    def put(self, key: str, data: bytes, content_type: str | None = None, *, durable: bool = True) -> str:
        if len(data) > self._threshold:
            return self._multipart(key, data, content_type)
        return self._put(key, data, content_type, {}, "put")

    def put_if_absent(
        self, key: str, data: bytes, content_type: str | None = None, *, durable: bool = True
    ) -> str:
        return self._put(key, data, content_type, {"IfNoneMatch": "*"}, "put_if_absent")

    def compare_and_swap(
        self, key: str, data: bytes, etag: str, content_type: str | None = None, *, durable: bool = True
    ) -> str:
        return self._put(key, data, content_type, {"IfMatch": quote_etag(etag)}, "compare_and_swap")

    def delete(self, key: str, etag: str | None = None) -> None:
        cond: dict[str, str] = {}
        if etag:
            # DeleteObject with If-Match (S3 answers 412 for another version). A store that
            # ignores the header still gets the HEAD just before: then only a write landing
            # between the two requests (milliseconds) could be deleted.
            current = self.head(key)
            if current is None:
                return
            if current.etag != etag:
                raise PreconditionFailed(f"{key} changed: not the version asked for")
            cond = {"IfMatch": quote_etag(etag)}
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key), **cond)
        except ClientError as exc:
            if cond and http_status(exc) == 412:
                raise PreconditionFailed(f"{key}: changed") from exc
            if http_status(exc) != 404 or error_code(exc) == "NoSuchBucket":
                raise self._error(exc, "delete", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "delete", key) from exc

    def copy(self, key: str, dest_key: str, *, etag: str | None = None) -> None:
        # The managed copy does a single CopyObject below 5 GiB and UploadPartCopy above;
        # x-amz-copy-source-if-match goes on each, so only that version is ever copied.
        from boto3.s3.transfer import TransferConfig

        source = {"Bucket": self.bucket, "Key": self._key(key)}
        config = TransferConfig(multipart_threshold=max(self._threshold, 5 * 1024**3 - 1))
        extra = {"CopySourceIfMatch": quote_etag(etag)} if etag is not None else None
        try:
            self._client.copy(source, self.bucket, self._key(dest_key), ExtraArgs=extra, Config=config)
        except ClientError as exc:
            if extra and http_status(exc) == 412:
                raise PreconditionFailed(f"{key} changed: not the version asked for") from exc
            raise self._error(exc, "copy", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "copy", key) from exc

    # -- health ----------------------------------------------------------------
    def check(self) -> None:
        # First with a client of few retries: an endpoint where nothing listens must fail in
        # seconds, not after the long retry budget the working client has for throttling.
        # A reachable endpoint answering 5xx or dropping a connection gets that full budget.
        try:
            _make_client(self.settings, 2).list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
            return
        except (ClientError, BotoCoreError) as exc:
            if not transient(exc):
                raise self._error(exc, "check", "") from exc
        try:
            self._client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "check", "") from exc

    def supports_conditional_writes(self) -> bool:
        """Probed once (watcher.storage.s3_probe); what failed is kept in ``conditional_writes_problem``.
        Raises StorageError when the store could not be asked (the answer is not cached)."""
        with self._probe_lock:
            if self._conditional is None:
                self.conditional_writes_problem = probe_conditional_writes(self)
                self._conditional = self.conditional_writes_problem is None
            return self._conditional

    @property
    def client(self) -> Any:
        """The boto3 client (for instrumentation: metrics hook its events)."""
        return self._client

    # -- internals -------------------------------------------------------------
    def _key(self, key: str) -> str:
        if not key:
            raise StorageError("empty key")
        full = self.prefix + key
        if len(full.encode()) > 1024:
            raise StorageError(f"S3 key longer than 1024 bytes: {full[:80]!r}…")
        return full

    def _put(self, key: str, data: bytes, content_type: str | None, cond: dict[str, str], op: str) -> str:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data, **cond}
        if content_type:
            args["ContentType"] = content_type
        retried = False
        for conflict in range(_CONFLICT_TRIES):
            try:
                return unquote_etag(self._client.put_object(**args)["ETag"])
            except ClientError as exc:
                if not cond or not is_precondition(exc, op):
                    raise self._error(exc, op, key) from exc
                retried = retried or exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
                if error_code(exc) == "ConditionalRequestConflict" and conflict < _CONFLICT_TRIES - 1:
                    # 409: another conditional write to the key was in flight and ours was
                    # not applied; S3 asks to retry, and the retry evaluates the condition anew.
                    time.sleep(backoff(0.1, conflict + 1))
                    continue
                # When botocore retried, an earlier attempt may have landed and its response
                # got lost: the retry then fails against our own write. The content carries
                # worker id and timestamps, so identical bytes mean that write was ours.
                if retried and (mine := self._same_content(key, data)) is not None:
                    return mine
                raise PreconditionFailed(f"{key}: {'exists' if 'IfNoneMatch' in cond else 'changed'}") from exc
            except BotoCoreError as exc:
                raise self._error(exc, op, key) from exc
        raise AssertionError("unreachable")

    def _same_content(self, key: str, data: bytes) -> str | None:
        try:
            current, etag = self.get(key)
        except StorageError:
            return None
        return etag if current == data else None

    def _multipart(self, key: str, data: bytes, content_type: str | None) -> str:
        full = self._key(key)
        part_size = max(self._threshold, _PART_MIN)
        extra = {"ContentType": content_type} if content_type else {}
        try:
            upload = self._client.create_multipart_upload(Bucket=self.bucket, Key=full, **extra)["UploadId"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "put", key) from exc
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), part_size), start=1):
                chunk = data[start : start + part_size]
                r = self._client.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": r["ETag"], "PartNumber": number})
            done = self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload, MultipartUpload={"Parts": parts}
            )
            return unquote_etag(done["ETag"])
        except (ClientError, BotoCoreError) as exc:
            try:  # parts of an abandoned upload are billed until aborted
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload)
            except (ClientError, BotoCoreError):
                pass
            raise self._error(exc, "put", key) from exc

    def _reading(self, once: Callable[[], T], op: str, key: str) -> T:
        for attempt in range(_BODY_TRIES):
            try:
                return once()
            except ClientError as exc:
                if http_status(exc) == 404 and error_code(exc) != "NoSuchBucket":
                    raise NotFound(key) from exc
                if http_status(exc) == 412:  # read "if it is still this version": it is not
                    raise PreconditionFailed(f"{key}: changed") from exc
                raise self._error(exc, op, key) from exc
            except BODY_ERRORS as exc:
                if attempt == _BODY_TRIES - 1:
                    raise self._error(exc, op, key) from exc
                time.sleep(backoff(0.2, attempt + 1))
            except BotoCoreError as exc:
                raise self._error(exc, op, key) from exc
        raise AssertionError("unreachable")

    def _error(self, exc: Exception, op: str, key: str) -> StorageError:
        error = self._described(exc, op, key)
        error.transient = transient(exc)
        return error

    def _described(self, exc: Exception, op: str, key: str) -> StorageError:
        where = f"s3://{self.bucket}/{self.prefix}{key}"
        endpoint = redact_urls(str(self._client.meta.endpoint_url))
        if isinstance(exc, NoCredentialsError):
            return StorageError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                "or run with an instance/IRSA role"
            )
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return StorageError(f"cannot reach the S3 endpoint {endpoint} ({op} {where}): is the URL right?")
        if isinstance(exc, ClientError):
            code, status = error_code(exc), http_status(exc)
            if code == "NoSuchBucket" or (op == "check" and status == 404):
                return StorageError(f"the bucket {self.bucket!r} does not exist at {endpoint}: create it")
            if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
                if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
                    return StorageError(f"the S3 credentials were rejected ({code}) for {where}")
                return StorageError(
                    f"access denied to {where} ({op}): the credentials need s3:ListBucket, "
                    "s3:GetObject, s3:PutObject and s3:DeleteObject on it"
                )
            if code == "NoSuchUpload":  # a 404, but about our multipart upload, not the object
                return StorageError(f"S3 {op} {where} failed: the multipart upload was aborted under it (NoSuchUpload)")
            if status == 404:
                return NotFound(key)
            message = exc.response.get("Error", {}).get("Message", "")
            return StorageError(f"S3 {op} {where} failed: {code} {message}".strip())
        return StorageError(f"S3 {op} {where} failed: {type(exc).__name__}: {redact_urls(str(exc))}")


def aws_session(settings: S3Settings) -> Any:
    """Credentials for every AWS client docwatch makes (S3, SQS, SNS): boto3's own chain, a
    profile, or the keys in S3Settings."""
    return boto3.Session(
        profile_name=settings.profile,
        aws_access_key_id=settings.access_key_id.get_secret_value() if settings.access_key_id else None,
        aws_secret_access_key=(
            settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
        ),
    )


def _make_client(settings: S3Settings, max_attempts: int) -> Any:
    session = aws_session(settings)
    config = Config(
        region_name=settings.region,
        s3={"addressing_style": settings.addressing_style},
        retries={"mode": settings.retry_mode, "max_attempts": max_attempts},  # type: ignore[typeddict-item]
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=128,  # every document in flight and its lease thread talk at once
    )
    # endpoint_url=None lets boto3 apply AWS_ENDPOINT_URL / the profile's endpoint itself.
    client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)
    bound_calls(client, settings.connect_timeout, settings.read_timeout)  # the tries add up to a bound
    return client
