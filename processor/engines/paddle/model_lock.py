"""Pinned sha256s of the model files an image bakes in (``deploy/models.lock.json``).

An image build downloads the official models and then checks every file against the lock: a file
that differs, is missing, or is not pinned fails the build. The lock is filled on a host that can
reach the model hosters with ``docwatch models fetch --lock FILE --record-lock`` (or the image build
arg ``MODELS_LOCK_MODE=record``, which prints the lock it wrote), reviewed, and committed.

Format::

    {"lock_version": 1, "paddlex": "3.7.2", "models": {"PP-DocLayoutV3": {"inference.json": "<sha256>", …}, …}}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

LOCK_VERSION = 1
# hoster bookkeeping beside the weights (git metadata, model cards), never loaded by paddlex
_IGNORED_DIRS = {".git", ".cache", ".locks"}
_IGNORED_FILES = {".gitattributes", "README.md", "README_en.md", ".msc", ".mv", ".mdl", "configuration.json"}


def file_hashes(model_dir: Path) -> dict[str, str]:
    """sha256 of every file paddlex may load from ``model_dir``, by path relative to it."""
    out = {}
    for path in sorted(model_dir.rglob("*")):
        rel = path.relative_to(model_dir)
        if not path.is_file() or set(rel.parts) & _IGNORED_DIRS or rel.name in _IGNORED_FILES:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        out[rel.as_posix()] = digest.hexdigest()
    return out


def load(path: Path) -> dict:
    if not path.is_file():
        return {"lock_version": LOCK_VERSION, "models": {}}
    data = json.loads(path.read_text())
    if data.get("lock_version") != LOCK_VERSION:
        raise RuntimeError(f"{path}: lock_version {data.get('lock_version')!r}, this docwatch reads {LOCK_VERSION}")
    data.setdefault("models", {})
    return data


def save(path: Path, lock: dict) -> None:
    path.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")


def problems(lock: dict, name: str, model_dir: Path) -> list[str]:
    """What keeps ``model_dir`` from matching the lock's pins for ``name`` (empty: it matches)."""
    pinned = lock["models"].get(name)
    if not pinned:
        return [f"{name}: no sha256 pinned; fill the lock on a host that reaches the model hosters "
                "(docwatch models fetch --lock FILE --record-lock) and commit it"]  # fmt: skip
    found = file_hashes(model_dir)
    out = [f"{name}/{f}: missing" for f in sorted(set(pinned) - set(found))]
    out += [f"{name}/{f}: not pinned" for f in sorted(set(found) - set(pinned))]
    out += [f"{name}/{f}: sha256 {found[f]} != pinned {h}" for f, h in sorted(pinned.items())
            if f in found and found[f] != h]  # fmt: skip
    return out


def record(lock: dict, name: str, model_dir: Path) -> None:
    lock["models"][name] = file_hashes(model_dir)
