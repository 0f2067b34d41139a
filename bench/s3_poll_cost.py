"""Cost of one discovery poll over an S3 input prefix holding many objects, all but 10 done.

Runs watcher.discovery (the daemon's own code) against a local moto server over HTTP:

- moto is populated directly through its in-process backend (no HTTP; 100,000 puts take
  seconds instead of many minutes), inputs under ``in/`` and done markers under
  ``out/_docwatch/done/`` exactly as DoneIndex.mark writes them;
- requests are counted with botocore's ``before-send`` hook (every HTTP attempt);
- CPU is the polling thread's own CPU time (``time.thread_time``): moto runs in other
  threads of this process, so process CPU would bill the server's work to the client.

Wall time is reported too, but it is mostly moto's listing speed, not S3's.

    python bench/s3_poll_cost.py [--sizes 10000 100000] [--polls 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.s3_server import MotoS3  # noqa: E402
from watcher.discovery import Discovery, DoneIndex, KeyFilter  # noqa: E402
from watcher.layout import marker_key  # noqa: E402
from watcher.settings import S3Settings  # noqa: E402
from watcher.storage import ObjectInfo  # noqa: E402
from watcher.storage.s3 import S3Storage  # noqa: E402

PENDING = 10
BODY = b"%PDF-1.7 stand-in"


def populate(bucket: str, n: int) -> float:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    etag = hashlib.md5(BODY).hexdigest()
    now = time.time()
    start = time.perf_counter()
    for i in range(n):
        key = f"docs/{i // 1000:03d}/document {i:06d}.pdf"
        backend.put_object(bucket, f"in/{key}", BODY)
        if i >= PENDING:  # the first 10 stay to do
            info = ObjectInfo(key=key, size=len(BODY), etag=etag, modified=now)  # type: ignore[arg-type]
            backend.put_object(bucket, f"out/{marker_key(info)}", b"")
    return time.perf_counter() - start


class Counted:
    def __init__(self, storage: S3Storage) -> None:
        self.calls: Counter[str] = Counter()
        storage._client.meta.events.register("before-send.s3", self._count)  # noqa: SLF001

    def _count(self, request: object, **_: object) -> None:
        method = getattr(request, "method", "?")
        url = getattr(request, "url", "")
        self.calls["ListObjectsV2" if "list-type=2" in url else method] += 1

    def take(self) -> dict[str, int]:
        out = dict(self.calls)
        self.calls.clear()
        return out


def measure(moto: MotoS3, n: int, polls: int) -> dict[str, object]:
    bucket = moto.new_bucket()
    populate_s = populate(bucket, n)
    settings = S3Settings(endpoint_url=moto.url, addressing_style="path")
    source = S3Storage.from_uri(f"s3://{bucket}/in/", settings)
    sink = S3Storage.from_uri(f"s3://{bucket}/out/", settings)
    src_count, sink_count = Counted(source), Counted(sink)

    done = DoneIndex(sink)
    t0, c0 = time.perf_counter(), time.thread_time()
    loaded = done.load()
    index_load = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.thread_time() - c0,
                  "requests": sink_count.take(), "done_versions": loaded}  # fmt: skip
    discovery = Discovery(source, done, KeyFilter(include=["*"], exclude=["*.tmp"]),
                          settle_seconds=0, min_age_seconds=0)  # fmt: skip
    runs = []
    for _ in range(polls):
        t0, c0 = time.perf_counter(), time.thread_time()
        ready = discovery.poll()
        done.refresh()  # the daemon's loop does this once per poll too
        runs.append({"seconds": time.perf_counter() - t0, "cpu_seconds": time.thread_time() - c0,
                     "requests": {**src_count.take(), **{f"out {k}": v for k, v in sink_count.take().items()}},
                     "ready": len(ready)})  # fmt: skip
    assert all(r["ready"] == PENDING for r in runs), runs
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "objects": n,
        "pending": PENDING,
        "populate_seconds": round(populate_s, 2),
        "index_load": index_load,
        "polls": runs,
        "requests_per_poll": sum(best["requests"].values()),  # type: ignore[union-attr]
        "cpu_seconds_per_poll": round(min(r["cpu_seconds"] for r in runs), 3),  # type: ignore[type-var]
        "wall_seconds_per_poll": round(min(r["seconds"] for r in runs), 3),  # type: ignore[type-var]
        # what the in-memory done index costs this process (the set and its strings)
        "index_bytes": sys.getsizeof(done._names) + sum(sys.getsizeof(s) for s in done._names),  # noqa: SLF001
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--polls", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    moto = MotoS3()
    results = []
    try:
        for n in args.sizes:
            print(f"populating and polling {n} objects ...", file=sys.stderr, flush=True)
            results.append(measure(moto, n, args.polls))
    finally:
        moto.stop()
    text = json.dumps({"benchmark": "s3_poll_cost", "python": sys.version.split()[0],
                       "cpus": os.cpu_count(), "results": results}, indent=1, default=str)  # fmt: skip
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"\n{'objects':>8} {'req/poll':>9} {'client CPU s':>12} {'wall s (moto)':>13} "
          f"{'index load s':>12} {'index req':>9}")  # fmt: skip
    for r in results:
        load = r["index_load"]
        print(f"{r['objects']:>8} {r['requests_per_poll']:>9} {r['cpu_seconds_per_poll']:>12.3f} "
              f"{r['wall_seconds_per_poll']:>13.2f} {load['seconds']:>12.2f} "  # type: ignore[index]
              f"{sum(load['requests'].values()):>9}")  # type: ignore[index]


if __name__ == "__main__":
    main()
