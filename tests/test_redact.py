"""processor.redact: what a URL keeps and what it loses, wherever docwatch records it."""

from __future__ import annotations

import pytest

from processor.document import EngineInfo, ErrorInfo
from processor.redact import REDACTED, redact_url, redact_urls


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pw@vl.internal:8000/v1?token=abc&model=x#frag", "http://vl.internal:8000/v1?model=x"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Signature=1&X-Amz-Credential=2&versionId=3",
         "https://b.s3.amazonaws.com/k?versionId=3"),
        ("https://h/p?api_key=1&Password=2&AWSAccessKeyId=3&Signature=4&client_secret=5&n=6", "https://h/p?n=6"),
        ("http://[::1]:8118/v1", "http://[::1]:8118/v1"),
        ("s3://bucket/prefix/", "s3://bucket/prefix/"),
        ("http://u:p@h:99999/x", REDACTED),  # unparseable: replaced whole
    ],
)  # fmt: skip
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_urls_inside_texts_and_records_are_redacted() -> None:
    text = "cannot reach http://a:hunter2@h:1/?token=t (get s3://b/k); see https://x/y"
    assert redact_urls(text) == "cannot reach http://h:1/ (get s3://b/k); see https://x/y"
    info = EngineInfo(name="e", version="1", options={"url": "http://a:hunter2@h/v1", "dpi": 300})
    assert info.options == {"url": "http://h/v1", "dpi": 300}
    assert "hunter2" not in ErrorInfo(type="APIConnectionError", message=text).message
