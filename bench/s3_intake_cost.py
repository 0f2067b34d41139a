"""Intake cost per hour on an S3 input with many objects: polling every 10 s against S3 event
notifications (SQS) with the listing only as reconciliation every 15 min.

Every figure is measured on the daemon's own code against a local moto server over HTTP
(requests counted with botocore's ``before-send`` hook, CPU as this thread's ``thread_time``,
so moto's work in its own threads is not billed to docwatch), then multiplied by how often the
daemon does it in an hour:

- polling: one listing (pages of 1000 keys, plus the epoch HEAD) every ``poll_interval``;
- events: one listing every ``reconcile_interval``, the epoch HEAD every ``poll_interval`` (the
  loop still wakes to notice `docwatch retry`), one long-poll ReceiveMessage per 20 s while idle,
  and per uploaded document: ReceiveMessage + HEAD + DeleteMessage.

    python bench/s3_intake_cost.py [--objects 100000] [--events-per-hour 0 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402

from bench.s3_poll_cost import BODY, Counted, measure  # noqa: E402
from tests.s3_server import MotoS3  # noqa: E402
from watcher.discovery import DoneIndex, KeyFilter  # noqa: E402
from watcher.metrics import Metrics  # noqa: E402
from watcher.settings import EventsSettings, S3Settings  # noqa: E402
from watcher.sources.sqs import SqsSource  # noqa: E402
from watcher.storage.s3 import S3Storage  # noqa: E402

POLL, RECONCILE, LONG_POLL = 10.0, 900.0, 20


def per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    c0 = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - c0) / n


def event_costs(moto: MotoS3, samples: int) -> dict[str, float]:
    """CPU of one epoch HEAD, one empty ReceiveMessage, and one event handled end to end."""
    bucket = moto.new_bucket()
    settings = S3Settings(endpoint_url=moto.url, addressing_style="path")
    source = S3Storage.from_uri(f"s3://{bucket}/in/", settings)
    sink = S3Storage.from_uri(f"s3://{bucket}/out/", settings)
    sqs = boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"cost-{bucket}")["QueueUrl"]
    done = DoneIndex(sink)
    done.refresh()
    events = EventsSettings(sqs_queue_url=url, sqs_endpoint_url=moto.url, sqs_wait_seconds=0)
    src = SqsSource(events, settings, source, KeyFilter(include=["*"], exclude=[]), done, Metrics())
    client = src._client  # noqa: SLF001 - the source's own client, as the daemon uses it

    head_cpu = per_call(done.refresh, samples)
    idle_cpu = per_call(lambda: client.receive_message(QueueUrl=url, WaitTimeSeconds=0), samples)
    for i in range(samples):
        key = f"doc {i:04d}.pdf"
        source.put(key, BODY)
        info = source.head(key)
        assert info is not None
        record = {"eventName": "ObjectCreated:Put", "eventTime": "2026-11-27T10:00:00.000Z",
                  "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(f"in/{key}"), "size": info.size,
                                                                 "eTag": info.etag, "sequencer": f"{i:016X}"}}}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Records": [record]}))
    counted = Counted(source)
    sqs_calls: list[str] = []
    client.meta.events.register("before-send.sqs", lambda request, **_: sqs_calls.append(request.url))

    def one_event() -> None:
        (m,) = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                      MessageSystemAttributeNames=["SentTimestamp"])["Messages"]
        src._handle(m)  # noqa: SLF001 - parse, filter, HEAD
        (item,) = src.poll()
        src.settled(item, claimed=True)  # the message is deleted

    event_cpu = per_call(one_event, samples)
    requests = (sum(counted.take().values()) + len(sqs_calls)) / samples
    return {"epoch_head_cpu_s": head_cpu, "idle_receive_cpu_s": idle_cpu, "event_cpu_s": event_cpu,
            "event_requests": requests}


def per_hour(poll: dict, costs: dict[str, float], events_per_hour: int) -> dict[str, dict[str, float]]:
    list_requests = poll["requests_per_poll"] - 1  # less the epoch HEAD counted with each poll
    polling = {"list_requests": 3600 / POLL * list_requests, "other_requests": 3600 / POLL,
               "cpu_s": 3600 / POLL * poll["cpu_seconds_per_poll"]}
    evented = {
        "list_requests": 3600 / RECONCILE * list_requests,
        "other_requests": 3600 / POLL + 3600 / LONG_POLL + events_per_hour * costs["event_requests"],
        "cpu_s": 3600 / RECONCILE * poll["cpu_seconds_per_poll"] + 3600 / POLL * costs["epoch_head_cpu_s"]
        + 3600 / LONG_POLL * costs["idle_receive_cpu_s"] + events_per_hour * costs["event_cpu_s"],
    }
    return {"poll_10s": polling, "events_reconcile_15min": evented}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--events-per-hour", type=int, nargs="+", default=[0, 1000])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    moto = MotoS3()
    try:
        print(f"populating and listing {args.objects} objects ...", file=sys.stderr, flush=True)
        poll = measure(moto, args.objects, 2)
        costs = event_costs(moto, args.samples)
    finally:
        moto.stop()
    rows = [{"events_per_hour": e, **per_hour(poll, costs, e)} for e in args.events_per_hour]
    out = {"benchmark": "s3_intake_cost", "cpus": os.cpu_count(), "objects": args.objects,
           "poll_interval_s": POLL, "reconcile_interval_s": RECONCILE,
           "listing": {k: poll[k] for k in ("requests_per_poll", "cpu_seconds_per_poll", "wall_seconds_per_poll")},
           "unit_costs": {k: round(v, 5) for k, v in costs.items()}, "per_hour": rows}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"\n{args.objects} objects; per hour:")
    print(f"{'mode':<24} {'uploads/h':>9} {'LIST req':>9} {'other req':>9} {'CPU s':>8} {'core %':>7}")
    for r in rows:
        for mode in ("poll_10s", "events_reconcile_15min"):
            m = r[mode]
            print(f"{mode:<24} {r['events_per_hour']:>9} {m['list_requests']:>9.0f} {m['other_requests']:>9.0f} "
                  f"{m['cpu_s']:>8.1f} {100 * m['cpu_s'] / 3600:>6.2f}%")


if __name__ == "__main__":
    main()
