"""Credentials out of URLs, for everything docwatch records or logs.

A URL keeps its scheme, host, port and path; it loses its userinfo (``user:password@``),
every query parameter whose name suggests a secret (token, key, secret, password,
signature, credential, session, ``X-Amz-*``…) and its fragment. A URL that cannot be
parsed is replaced whole: better an unreadable log line than a leaked key.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"token|key|secret|passw|pwd|sig|credential|auth|session|^x-amz-|^code$", re.IGNORECASE)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>`]+")
REDACTED = "<url redacted>"


def redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return REDACTED
    if not parts.scheme or not host:
        return url if "@" not in url and "?" not in url else REDACTED
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _SECRET_PARAM.search(k)]
    return urlunsplit((parts.scheme, host, parts.path, urlencode(query), ""))


def redact_urls(text: str) -> str:
    """Every URL inside ``text`` redacted (error messages, log values)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
