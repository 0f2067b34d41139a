"""One S3 call is bounded as a whole: against an endpoint that accepts the connection and never
answers, botocore's tries (each bounded by the read timeout) and its back-offs between them
would add up to many times the read timeout; the call gives up after two tries at most."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.s3_server import fake_aws_env
from watcher.settings import S3Settings
from watcher.storage import StorageError
from watcher.storage.s3 import S3Storage
from watcher.storage.s3_budget import call_seconds_at_most


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_a_call_to_an_endpoint_that_never_answers_ends_within_its_bound(silent_endpoint) -> None:
    fake_aws_env()
    url, accepted = silent_endpoint
    settings = S3Settings(endpoint_url=url, addressing_style="path", connect_timeout=1, read_timeout=1,
                          max_attempts=8, retry_mode="standard")
    store = S3Storage("bucket", "in/", settings)
    started = time.monotonic()
    with pytest.raises(StorageError) as raised:
        store.head("never.pdf")
    took = time.monotonic() - started
    # eight tries of 1 s each would be 8 s and more; two tries and one back-off are the bound
    assert took <= call_seconds_at_most(1, 1) and len(accepted) <= 2, (took, len(accepted))
    assert raised.value.transient, raised.value  # an outage of the moment: worth trying again later
