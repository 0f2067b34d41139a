"""The fence stamp: the number of the claim that wrote an output, inside the output's own bytes.

A store compares only ETags in its conditional writes, and an ETag is a digest of the bytes: two
claims writing the same bytes would give the same ETag, and a late write conditioned on it by an
earlier claim would pass. With the claim's number in the bytes every claim's outputs differ from
every other's, so the ETag fences, and a writer that finds a key changed can read who changed
it. Markdown and HTML get a trailing comment (not rendered), JSON a top-level ``docwatch_fence``,
PNG a ``tEXt`` chunk; other bytes are left as they are (figures are PNG).
"""

from __future__ import annotations

import re
import struct
import zlib

_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_KEY = b"docwatch-fence"
_MD = re.compile(rb"<!-- docwatch fence (\d+) -->\n?\Z")
_JSON = re.compile(rb'\A\{\s*"docwatch_fence":\s*(\d+),')


def stamp(data: bytes, content_type: str, fence: int) -> bytes:
    """``data`` with ``fence`` written into it, in a way its readers ignore."""
    if content_type.startswith(("text/markdown", "text/html")):
        return data + (b"" if data.endswith(b"\n") or not data else b"\n") + b"<!-- docwatch fence %d -->\n" % fence
    if content_type == "application/json" and data.startswith(b"{"):
        return b'{\n "docwatch_fence": %d,' % fence + data[1:]
    if content_type == "image/png" and data.startswith(_PNG):
        body = _PNG_KEY + b"\0" + str(fence).encode()
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
        ihdr_end = len(_PNG) + 8 + struct.unpack(">I", data[8:12])[0] + 4  # length, type, data, crc
        return data[:ihdr_end] + chunk + data[ihdr_end:]
    return data


def read(data: bytes) -> int | None:
    """The fence stamped into ``data``, or None (an output from before stamps, or not stampable)."""
    if data.startswith(_PNG):
        at = data.find(b"tEXt" + _PNG_KEY + b"\0")
        if at > 0:
            length = struct.unpack(">I", data[at - 4:at])[0]
            return int(data[at + 4 + len(_PNG_KEY) + 1:at + 4 + length])
        return None
    if (found := _JSON.match(data[:64])) or (found := _MD.search(data[-64:])):
        return int(found.group(1))
    return None
