"""Reliability under faults: a fleet of real replicas on one S3 prefix, killed, cut off, starved.

A local moto server (real HTTP); each replica (``docwatch run``, CPU engine, one page worker)
reaches it through its own fault-injecting proxy (tests/fault_proxy.py), so one replica can
be partitioned alone. Uploads go straight to moto. The run:

1. documents (a few text pages and one scanned page each, so a conversion takes seconds)
   are uploaded, the replicas start; every proxy injects random faults at ``--fault-rate``;
2. an outage: every proxy answers 503 SlowDown to every request for ``--outage`` seconds,
   while more documents are uploaded;
3. a partition: a replica in mid-document gets every request delivered ``--slow-seconds``
   late (past its lease) for ``--partition-seconds``, while the rest are uploaded;
4. ``--kills`` times, at random moments spread over 1-3, a replica (preferably one holding a
   document) is killed with SIGKILL, engine child and all, and started again a second later.
   A replica that exits by itself is restarted too, with back-off, as an orchestrator would;
5. settle: until every document has a final manifest and no replica holds one (bounded).

Then the outcome, from the manifests in moto and the replicas' JSON logs:
succeeded, failed (for good), lost (no final manifest at the end), converted twice (a
version recorded ``succeeded`` twice, or converted again after its success was recorded;
a conversion redone because its process was killed before recording it is the expected
cost of the kill and is counted apart), and manifests whose outputs do not match (an output
listed in a ``succeeded`` manifest that is missing or whose sha256 differs).

    python bench/reliability.py [--docs 30 --replicas 3 --kills 10 --outage 60 --partitions 1] [--json out.json]
    python bench/reliability.py --docs 8 --kills 2 --outage 10 --lease 5 --slow-seconds 10 --partition-seconds 14
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.reliability_scenario import Run  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=30, help="documents uploaded (before, during the outage, during the partition)")
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--kills", type=int, default=10, help="kill -9s of a whole replica")
    ap.add_argument("--outage", type=float, default=60, help="seconds every proxy answers 503")
    ap.add_argument("--partitions", type=int, default=1, choices=(0, 1))
    ap.add_argument("--lease", type=float, default=10, help="DOCWATCH_LEASE_SECONDS")
    ap.add_argument("--slow-seconds", type=float, default=25, help="delay of a partitioned replica's requests")
    ap.add_argument("--partition-seconds", type=float, default=30, help="how long the partition lasts")
    ap.add_argument("--steady", type=float, default=20, help="seconds of random faults only, before the outage")
    ap.add_argument("--fault-rate", type=float, default=0.1, help="share of requests given a random fault")
    ap.add_argument("--settle", type=float, default=300, help="at most this long for the backlog at the end")
    ap.add_argument("--max-seconds", type=float, default=1500, help="the whole run stops by then, whatever happens")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-logs", type=Path, help="copy the replicas' logs here")
    ap.add_argument("--json", type=Path)
    return ap.parse_args(argv)


FAULT_NAMES = {"slowdown": "503 SlowDown", "error500": "500", "reset_before": "reset before",
               "reset_after": "reset after", "truncate": "truncated", "slow": "slow", "conflict": "409 conflict",
               "denied": "403"}  # fmt: skip


def table(r: dict) -> str:
    """The Markdown table README's "Reliability" section shows."""
    c, inj, out, conv = r["config"], r["injected"], r["outcome"], r["conversions"]
    faults = sorted(inj["faults_by_kind"].items(), key=lambda kv: -kv[1])
    rows = [
        ("documents", c["documents"]),
        ("replicas", c["replicas"]),
        ("kill -9s (of them, replica holding a document)", f"{inj['kill9']} ({inj['kill9_holding_document']})"),
        ("outage seconds (every request 503)", inj["outage_seconds"]),
        (f"partitions (requests {c['slow_seconds']:g} s late, lease {c['lease_seconds']:g} s)",
         f"{inj['partitions']}" + (", mid-document" if inj["partition_mid_document"] else "")),
        ("S3 requests through the proxies", inj["requests"]),
        ("injected faults", ", ".join(f"{FAULT_NAMES.get(k, k)} {n}" for k, n in faults) or "none"),
        ("daemon exits not caused by the bench", _exits(inj["unexpected_exits"])),
        ("**succeeded**", out["succeeded"]),
        ("**failed**", out["failed"]),
        ("**lost**", out["lost"]),
        ("**converted twice**", out["converted_twice"]),
        ("**manifests whose outputs do not match**", out["mismatched_manifests"]),
        ("conversions redone after a kill -9 / dropped after a lost lease",
         f"{conv['redone_after_kill']} / {conv['dropped_lease_lost']}"),
        ("wall seconds", round(r["seconds"])),
    ]  # fmt: skip
    return "\n".join(["| | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def _exits(exits: list[dict]) -> str:
    if not exits:
        return "0"
    counts: dict[str, int] = {}
    for e in exits:
        what = f"exit {e['code']}"
        if e.get("last_error"):
            what += f" `{e['last_error']['event']}`"
        elif e.get("not_json"):  # a traceback: its last line names the exception
            what += f" `{e['not_json'][-1].split(':', 1)[0].rsplit('.', 1)[-1]}` traceback"
        counts[what] = counts.get(what, 0) + 1
    return f"{len(exits)} (" + ", ".join(f"{w} ×{n}" for w, n in sorted(counts.items())) + ")"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C

    signal.signal(signal.SIGTERM, interrupted)
    with tempfile.TemporaryDirectory(prefix="dw-reliability-") as tmp:
        run = Run(args, Path(tmp))
        try:
            run.scenario()
            result = run.evaluate()
        except KeyboardInterrupt:
            print("interrupted: stopping every process started", file=sys.stderr, flush=True)
            return 130
        finally:
            run.close()
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in Path(tmp).glob("*.log"):
                    (args.keep_logs / log.name).write_bytes(log.read_bytes())
    result["cpus"] = os.cpu_count()
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
