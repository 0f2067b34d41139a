"""Input key -> output folder: one folder per key, and back, on folders and on S3."""

from __future__ import annotations

from watcher.layout import input_key_of_manifest, manifest_key, output_dir

KEYS = ["a/b.pdf", "a/./b.pdf", "a//b.pdf", "a/../b.pdf", "/a/b.pdf", "a/%/b.pdf", "a/%./b.pdf", "a/%%2e/b.pdf",
        "a/.../b.pdf", "./b.pdf", "отчёт 2024/q1 (final).pdf"]  # fmt: skip


def test_a_folder_output_gets_one_folder_per_key_and_maps_back() -> None:
    folders = [output_dir(k, keys_are_paths=True) for k in KEYS]
    assert len(set(folders)) == len(KEYS)
    for folder in folders:  # nothing a path would merge, resolve or refuse
        assert all(seg not in ("", ".", "..") for seg in folder.split("/")), folder
    assert [input_key_of_manifest(manifest_key(k, keys_are_paths=True), keys_are_paths=True) for k in KEYS] == KEYS
    assert output_dir("reports/2024/q1.pdf", keys_are_paths=True) == "reports/2024/q1.pdf"  # plain keys unchanged


def test_an_s3_output_keeps_keys_as_they_are() -> None:
    assert [output_dir(k) for k in KEYS] == KEYS
    assert [input_key_of_manifest(manifest_key(k)) for k in KEYS] == KEYS
    assert input_key_of_manifest("manifest.json") is None and input_key_of_manifest("a/b.md") is None
