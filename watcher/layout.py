"""The output store's layout, in one place.

Under the output root:

- ``<rel>/`` — the outputs of input ``<rel>`` (the input's name is the folder), with
  ``<rel>/manifest.json`` last;
- ``<rel>/pages/<sha256[:16]>/`` — page checkpoints of one input version while it converts;
- ``_docwatch/done/<key hash>.<version hash>`` — zero-byte markers of finished versions;
- ``_docwatch/epoch`` — rewritten by `docwatch retry`, so daemons reload their done index;
- ``_docwatch/probe/…`` — short-lived objects of the conditional-write probe;
- ``.docwatch/`` — a local folder's lock files (never listed as objects).

Nothing here reads or writes storage: these are names only.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

STATE_PREFIX = "_docwatch/"  # docwatch's own objects; never an input, never listed as a document
DONE_PREFIX = f"{STATE_PREFIX}done/"
EPOCH_KEY = f"{STATE_PREFIX}epoch"
PROBE_PREFIX = f"{STATE_PREFIX}probe/"
OUTBOX_PREFIX = f"{STATE_PREFIX}outbox/"  # completion events written before their manifest, until delivered
MANIFEST_NAME = "manifest.json"
CHECKPOINT_FOLDER = "pages"
LOCAL_STATE_DIR = ".docwatch"


class Version(Protocol):
    key: str
    etag: str
    size: int


def _h(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def output_dir(input_key: str, *, keys_are_paths: bool = False) -> str:
    """Outputs of ``<in>/<rel>`` live under ``<out>/<rel>/`` (the input's name is the folder).

    ``keys_are_paths`` (a folder output): S3 keys may hold segments a path cannot ('', '.',
    '..'), so 'a/./b.pdf', 'a//b.pdf' and 'a/b.pdf' would share one folder. Such a segment
    gets a '%' in front, and so does one that already starts with '%': one-to-one and
    reversible (``input_key_of_manifest``). An S3 output keeps the key as it is."""
    key = input_key.rstrip("/")
    return "/".join(map(_escape_segment, key.split("/"))) if keys_are_paths else key


def manifest_key(input_key: str, *, keys_are_paths: bool = False) -> str:
    return f"{output_dir(input_key, keys_are_paths=keys_are_paths)}/{MANIFEST_NAME}"


def checkpoints_root(input_key: str, *, keys_are_paths: bool = False) -> str:
    """Page checkpoints of every version of ``input_key``."""
    return f"{output_dir(input_key, keys_are_paths=keys_are_paths)}/{CHECKPOINT_FOLDER}/"


def checkpoints_of(input_key: str, conversion: str, *, keys_are_paths: bool = False) -> str:
    """Page checkpoints of one conversion of the input (a hex digest naming bytes, engine, options)."""
    return f"{checkpoints_root(input_key, keys_are_paths=keys_are_paths)}{conversion[:16]}/"


def input_key_of_manifest(key: str, *, keys_are_paths: bool = False) -> str | None:
    """The input a manifest key belongs to, or None when ``key`` is not a manifest."""
    folder, _, name = key.rpartition("/")
    if name != MANIFEST_NAME or not folder:
        return None
    return "/".join(s[1:] if s.startswith("%") else s for s in folder.split("/")) if keys_are_paths else folder


def _escape_segment(segment: str) -> str:
    return f"%{segment}" if segment in ("", ".", "..") or segment.startswith("%") else segment


def marker_name(item: Version) -> str:
    """A finished version's marker name: fixed length whatever the key (S3 keys reach 1024 bytes)."""
    return f"{_h(item.key, 32)}.{_h(f'{item.etag}:{item.size}', 16)}"


def marker_key(item: Version) -> str:
    return f"{DONE_PREFIX}{marker_name(item)}"


def markers_of_key(input_key: str) -> str:
    """The prefix shared by the markers of every version of ``input_key``."""
    return f"{DONE_PREFIX}{_h(input_key, 32)}."


def is_state_key(key: str) -> bool:
    return key.startswith(STATE_PREFIX)
