"""What a reliability run came to: manifests and outputs as stored in moto (read directly,
not through the proxies), conversions as the replicas' JSON logs tell them."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from tests.replica_fleet import CLAIM_ENDS, timestamp
from watcher.layout import manifest_key

if TYPE_CHECKING:
    from bench.reliability_scenario import Run


def read_manifest(client, bucket: str, key: str) -> dict | None:
    try:
        body = client.get_object(Bucket=bucket, Key=f"out/{manifest_key(key)}")["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return {"status": "unreadable"}


def state_of(m: dict | None) -> str:
    """``succeeded`` and ``failed`` are final; anything else at the end means lost."""
    if m is None:
        return "no manifest"
    if m.get("status") == "failed" and m.get("next_attempt_at"):
        return "failed, retry pending"
    return str(m.get("status"))


def final_state(client, bucket: str, key: str) -> str:
    return state_of(read_manifest(client, bucket, key))


def stored_sha256(client, bucket: str, key: str) -> str | None:
    try:
        return hashlib.sha256(client.get_object(Bucket=bucket, Key=f"out/{key}")["Body"].read()).hexdigest()
    except client.exceptions.NoSuchKey:
        return None


def conversions(run: Run) -> dict:
    """Engine runs and what became of each, per incarnation's log."""
    starts, completed, fates = 0, 0, Counter()
    redone_after_kill = 0
    succeeded_at: dict[str, list[datetime]] = {}
    start_times: dict[str, list[datetime]] = {}
    for r in run.replicas:
        for life in r.lives:
            events = life.log.events
            for i, e in enumerate(events):
                key, name = e.get("key"), e.get("event")
                if name == "document.succeeded":
                    succeeded_at.setdefault(key, []).append(timestamp(e))
                if name not in ("document.convert.start", "document.converted"):
                    continue
                end = next((later["event"] for later in events[i + 1:]
                            if later.get("key") == key and later.get("event") in CLAIM_ENDS), None)  # fmt: skip
                if name == "document.convert.start":
                    starts += 1
                    start_times.setdefault(key, []).append(timestamp(e))
                    redone_after_kill += end is None and life.how == "kill9"
                else:
                    completed += 1
                    fates[end or f"none: process {life.how or 'still running'}"] += 1
    twice = sorted(
        k for k, done in succeeded_at.items()
        if len(done) > 1 or any(t > min(done) for t in start_times.get(k, []))
    )  # fmt: skip
    return {
        "engine_runs": starts,
        "completed": completed,
        "fate_of_completed": dict(fates),
        "redone_after_kill": redone_after_kill,
        "dropped_lease_lost": sum(1 for r in run.replicas for _, e in r.events() if e.get("event") == "document.lease_lost"),
        "writes_fenced": sum(1 for r in run.replicas for _, e in r.events() if e.get("event") == "document.fenced"),
        "converted_twice_keys": twice,
    }


def evaluate(run: Run) -> dict:
    a, client, bucket = run.args, run.client, run.bucket
    states, mismatches, failed, lost = {}, [], {}, {}
    for key in run.uploaded:
        m = read_manifest(client, bucket, key)
        states[key] = state = state_of(m)
        if state == "succeeded":
            assert m is not None
            for o in m.get("outputs", []):
                sha = stored_sha256(client, bucket, o["key"])
                if sha != o["sha256"]:
                    mismatches.append({"key": key, "output": o["key"], "manifest_by": m.get("worker_id"),
                                       "problem": "missing" if sha is None else "sha256 differs"})  # fmt: skip
        elif state == "failed":
            assert m is not None
            failed[key] = {"error": m.get("error"), "attempts": m.get("attempts")}
        else:
            lost[key] = {"state": state, "worker": (m or {}).get("worker_id"), "attempts": (m or {}).get("attempts"),
                         "error": (m or {}).get("error")}  # fmt: skip
    conv = conversions(run)
    other_lines = [line for r in run.replicas for life in r.lives for line in life.log.other_lines]
    partition = dict(run.partition or {})
    if run.partition:  # what the cut-off replica said, after the cut, about the documents it held
        victim = next(r for r in run.replicas if r.name == run.partition["replica"])
        partition["its_events_for_those"] = [
            {"event": e.get("event"), "incarnation": n, **({"error": e["error"]} if "error" in e else {})}
            for n, e in victim.events() if e.get("key") in run.partition["holding"]
            and e.get("event") not in ("document.claimed", "document.fetched", "document.convert.start")
        ]  # fmt: skip
    return {
        "benchmark": "reliability",
        "config": {"documents": len(run.uploaded), "replicas": a.replicas, "kills": a.kills, "outage_seconds": a.outage,
                   "partitions": a.partitions, "lease_seconds": a.lease, "slow_seconds": a.slow_seconds,
                   "partition_seconds": a.partition_seconds, "fault_rate": a.fault_rate, "seed": a.seed},
        "injected": {
            "kill9": len(run.kills),
            "kill9_holding_document": sum(1 for k in run.kills if k["holding"]),
            "outage_seconds": run.outage_seconds,
            "partitions": 1 if run.partition else 0,
            "partition_mid_document": bool(run.partition and run.partition["mid_document"]),
            "faults_by_kind": dict(run.faults()),
            "faults_by_phase": run.phase_faults,
            "requests": sum(p.stats.total() for p in run.proxies),
            "unexpected_exits": run.exits,
        },
        "outcome": {
            "succeeded": sum(1 for s in states.values() if s == "succeeded"),
            "failed": len(failed),
            "lost": len(lost),
            "converted_twice": len(conv["converted_twice_keys"]),
            "mismatched_manifests": len({m["key"] for m in mismatches}),
        },
        "conversions": conv,
        "details": {
            "uploaded_by_phase": dict(Counter(run.uploaded.values())),
            "lost": lost,
            "failed": failed,
            "mismatches": mismatches,
            "timeline": run.timeline,
            "kills": run.kills,
            "partition": partition,
            "log_lines_not_json": {"count": len(other_lines), "first": other_lines[:5]},
            "incarnations": {r.name: len(r.lives) for r in run.replicas},
            "timed_out": run.timed_out,
        },
        "seconds": round(run.now(), 1),
    }
