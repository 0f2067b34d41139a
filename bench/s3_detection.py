"""Detection latency on S3: object written -> claimed by a real daemon, at several poll
intervals, and with S3 event notifications through SQS (poll and reconciliation at 1 h).

A local moto server (real HTTP; in server mode it delivers bucket notifications to its SQS),
one ``docwatch run`` subprocess per mode with the CPU engine. Each sample waits a random
fraction of the interval (so writes land at a random phase of the poll cycle; 0-2 s with
events), writes a small PDF, and reads the daemon's JSON log for the ``document.claimed`` event
of that key. Polling: expect about interval/2 on average, interval at worst, plus a listing and
a manifest write. Events: a long poll answered, a HEAD and a manifest write.

    python bench/s3_detection.py [--intervals 1 10] [--samples 20 8] [--events 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pymupdf  # noqa: E402

from tests.s3_server import MotoS3  # noqa: E402


def pdf(text: str) -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text)
    return doc.tobytes()


def events(log: Path, name: str) -> list[dict]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(e, dict) and e.get("event") == name:
            found.append(e)
    return found


def stamp(e: dict) -> float:
    return datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()


def wait_event(log: Path, name: str, key: str | None, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events(log, name):
            if key is None or e.get("key") == key:
                return e
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        time.sleep(0.02)
    raise TimeoutError(f"no {name} for {key} within {timeout} s")


def sqs_notifications(moto: MotoS3, bucket: str) -> str:
    """A queue with the bucket's create/delete notifications, as deploy/aws sets it up."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"bench-{bucket}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    moto.client().put_bucket_notification_configuration(  # type: ignore[attr-defined]
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    return url


def run_interval(moto: MotoS3, interval: float, samples: int, workdir: Path, rng: random.Random,
                 *, events: bool = False) -> dict:
    bucket = moto.new_bucket()
    client = moto.client()
    log = workdir / f"daemon-{'events' if events else f'{interval:g}s'}.log"
    env = {**os.environ, "DOCWATCH_S3__ENDPOINT_URL": moto.url, "DOCWATCH_S3__ADDRESSING_STYLE": "path",
           "DOCWATCH_POLL_INTERVAL": str(interval), "DOCWATCH_LEASE_SECONDS": "60", "DOCWATCH_WORKER_ID": "bench",
           "DOCWATCH_HEALTH_PORT": "0", "DOCWATCH_ENGINE": "cpu", "DOCWATCH_LOG_FORMAT": "json"}  # fmt: skip
    if events:
        env |= {"DOCWATCH_EVENTS__SQS_QUEUE_URL": sqs_notifications(moto, bucket), "AWS_ENDPOINT_URL": moto.url,
                "DOCWATCH_POLL_INTERVAL": "3600", "DOCWATCH_RECONCILE_INTERVAL": "3600"}
    cmd = [sys.executable, "-m", "watcher.cli", "run", "--input", f"s3://{bucket}/in/", "--output", f"s3://{bucket}/out/"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    rows = []
    try:
        wait_event(log, "listing.reconciled" if events else "index.loaded", None, proc, 120)
        for i in range(samples):
            time.sleep(rng.uniform(0, 2.0 if events else interval))
            key = f"sample-{i:03d}.pdf"
            client.put_object(Bucket=bucket, Key=f"in/{key}", Body=pdf(f"sample {i}"))  # type: ignore[attr-defined]
            written = time.time()
            claimed = stamp(wait_event(log, "document.claimed", key, proc, interval * 3 + 60))
            done = stamp(wait_event(log, "document.succeeded", key, proc, 120))
            rows.append({"key": key, "claimed_after": round(claimed - written, 3), "done_after": round(done - written, 3)})
            print(f"  {'events' if events else f'{interval:g}s':>6}  {key}  claimed after {claimed - written:6.2f} s", file=sys.stderr, flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the engine child, if still there
        except ProcessLookupError:
            pass
    lat = sorted(r["claimed_after"] for r in rows)
    return {
        "mode": "sqs events" if events else "poll",
        "poll_interval_s": 3600.0 if events else interval,
        "samples": len(rows),
        "claimed_after_s": {
            "mean": round(statistics.fmean(lat), 3),
            "median": round(statistics.median(lat), 3),
            "p90": round(lat[min(len(lat) - 1, int(0.9 * len(lat)))], 3),
            "p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3),
            "min": lat[0],
            "max": lat[-1],
        },
        "done_after_mean_s": round(statistics.fmean(r["done_after"] for r in rows), 3),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--intervals", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--samples", type=int, nargs="+", default=[20, 8], help="per interval (last one repeats)")
    ap.add_argument("--events", type=int, default=40, metavar="N", help="samples with SQS events (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    moto = MotoS3()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
            for i, interval in enumerate(args.intervals):
                n = args.samples[min(i, len(args.samples) - 1)]
                results.append(run_interval(moto, interval, n, Path(tmp), rng))
            if args.events:
                results.append(run_interval(moto, 3600.0, args.events, Path(tmp), rng, events=True))
    finally:
        moto.stop()
    text = json.dumps({"benchmark": "s3_detection", "cpus": os.cpu_count(), "results": results}, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"\n{'mode':>10} {'poll s':>6} {'n':>3} {'mean s':>7} {'median':>7} {'p90':>7} {'p95':>7} {'min':>7} "
          f"{'max':>7} {'done mean':>9}")  # fmt: skip
    for r in results:
        c = r["claimed_after_s"]
        print(f"{r['mode']:>10} {r['poll_interval_s']:>6g} {r['samples']:>3} {c['mean']:>7.2f} {c['median']:>7.2f} "
              f"{c['p90']:>7.2f} {c['p95']:>7.2f} {c['min']:>7.2f} {c['max']:>7.2f} "
              f"{r['done_after_mean_s']:>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
