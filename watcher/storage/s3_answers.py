"""How S3's answers are read: which errors are answers (a failed condition, a missing key) and
which are faults of the moment worth retrying, and ETags as S3 quotes them."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import ProtocolError

# A dropped connection while a body streams is not covered by botocore's retries (the
# response already "succeeded"), so reads of bodies retry on these themselves.
BODY_ERRORS = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    ConnectionClosedError,
    ProtocolError,
    ConnectionError,
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_precondition(exc: ClientError, op: str) -> bool:
    # 412: the condition failed. 409 ConditionalRequestConflict: a concurrent conditional
    # write to the same key is in flight (S3Storage._put retries it; if it persists, a lost race).
    # 404 on If-Match: the object is gone, so it is not the version we read.
    code, status = error_code(exc), http_status(exc)
    if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
        return True
    return op == "compare_and_swap" and status == 404 and code != "NoSuchBucket"


def transient(exc: BaseException) -> bool:
    """A fault of the moment at a reachable endpoint (worth more retries; at start-up, worth
    waiting for), not an answer."""
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | NoCredentialsError):
        return False
    if isinstance(exc, ClientError):
        return http_status(exc) >= 500 or error_code(exc) in ("SlowDown", "Throttling", "RequestTimeout")
    # the wire, not a refused request or configuration (botocore refuses an endpoint with
    # userinfo with a BotoCoreError that no retry can change)
    return isinstance(exc, (HTTPClientError, *BODY_ERRORS))


def unanswered(exc: BaseException | None) -> bool:
    """The store gave no answer at all (nothing listening, no route, a timeout, a dropped
    connection) or a fault of the moment: at start-up, worth waiting for, not a wrong setting."""
    if exc is None:
        return False
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError):
        return True
    return not isinstance(exc, NoCredentialsError) and transient(exc)


def unquote_etag(etag: str) -> str:
    return etag.strip('"')


def quote_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'
