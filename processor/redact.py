"""Credentials out of URLs before they reach logs, manifests or engine options.

A URL keeps its scheme, host, port and path; ``user:password@`` goes, and so does every query
parameter (``?token=…``, ``api_key=…``, signed-URL signatures: a query string is where services
put secrets, and none of docwatch's URLs needs one to be recognisable). Fragments go too.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"


def redact_url(url: str | None) -> str | None:
    """``https://user:pw@host:8443/v1?api_key=x`` -> ``https://host:8443/v1?REDACTED``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # unparsable: say nothing rather than leak it
        return REDACTED
    if not parts.scheme or not parts.hostname:
        return REDACTED if ("@" in url or "?" in url) else url
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str) -> str:
    """Every URL inside a message (an exception's text, say) redacted as ``redact_url`` does."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)) or "", text)
