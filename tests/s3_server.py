"""A real S3 endpoint for tests: moto's server mode on loopback, spoken to over HTTP.

Import the fixtures from conftest (``from tests.s3_server import *``-style, by name) or
directly in a test module. ``s3_endpoint`` is session-scoped; ``s3_bucket`` is a fresh,
uniquely named bucket per test so tests never see each other's objects.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import boto3
import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def fake_aws_env() -> None:
    """Fake credentials, and no real AWS config files that could leak in."""
    os.environ.update(FAKE_ENV)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)


class MotoS3:
    """A moto server in a thread of this process (still real HTTP on a real socket).

    ``s3_only``: serve moto's S3 application alone. moto's usual front works out the service
    of every request (it lists and stats its ~170 module folders and tries their URL patterns,
    under one lock: ~20 % of its CPU per request, py-spy); a bench that talks only S3 should
    not measure that (bench/s3_side.py)."""

    def __init__(self, *, s3_only: bool = False) -> None:
        from moto.server import ThreadedMotoServer

        fake_aws_env()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        if s3_only:
            self._server = _S3OnlyServer()
        else:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def client(self, endpoint: str | None = None) -> object:
        return boto3.client("s3", endpoint_url=endpoint or self.url, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"dw-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def stop(self) -> None:
        self._server.stop()


class _S3OnlyServer:
    """moto's S3 Flask application on a threaded werkzeug server, with ThreadedMotoServer's
    get_host_and_port()/stop()."""

    def __init__(self) -> None:
        import threading

        from moto.moto_server.werkzeug_app import create_backend_app
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, create_backend_app("s3"), threaded=True)
        threading.Thread(target=self._server.serve_forever, name="moto-s3", daemon=True).start()

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    saved = dict(os.environ)
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def s3_endpoint(moto_s3: MotoS3) -> str:
    return moto_s3.url


@pytest.fixture
def s3_bucket(moto_s3: MotoS3) -> str:
    return moto_s3.new_bucket()
