"""Refuse configurations where outputs would be picked up again as inputs."""

from __future__ import annotations

from pathlib import Path

from watcher.storage import StorageError, is_s3_uri


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def refuse_feedback_loop(input_uri: str, output_uri: str) -> None:
    if is_s3_uri(input_uri) != is_s3_uri(output_uri):
        return  # one local, one in S3: they cannot overlap
    if is_s3_uri(input_uri):
        (ib, ip), (ob, op) = _s3_parts(input_uri), _s3_parts(output_uri)
        inside = ib == ob and (ip == op or ip == "" or op.startswith(ip + "/"))
    else:
        i, o = Path(input_uri).expanduser().resolve(), Path(output_uri).expanduser().resolve()
        inside = o == i or o.is_relative_to(i)
    if inside:
        raise StorageError(
            f"the output {output_uri} is the input {input_uri} or inside it: outputs would be "
            "picked up as new inputs. Choose an output outside the input."
        )
