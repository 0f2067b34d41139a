"""The fault scenario of bench/reliability.py: uploads, random faults, an outage, a partition,
kill -9s, and the supervision an orchestrator would give (restart whatever exits).

Every wait goes through ``Run.wait``, which reads the logs, restarts replicas and fires the
kills that are due, and never runs past ``--max-seconds`` from the start.
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pymupdf
from PIL import Image

from bench.reliability_outcome import evaluate, final_state
from tests.docs import make_scan_png
from tests.fault_proxy import FaultProxy, FaultRates
from tests.replica_fleet import Replica
from tests.s3_server import MotoS3

RANDOM_KINDS = ("error500", "slowdown", "reset_before", "reset_after", "truncate", "slow", "conflict")
TICK = 0.25


def documents(n: int, seed: int) -> dict[str, bytes]:
    """``n`` distinct PDFs of ~120 kB: three text pages (Helvetica, not embedded) and one
    scanned page (a JPEG, as scanners write; its OCR takes a second or more)."""
    with tempfile.TemporaryDirectory() as tmp:
        png = make_scan_png(Path(tmp) / "scan.png", text="Scanned page of the reliability bench. " * 12, dpi=150).path
        scan = Path(tmp) / "scan.jpg"
        Image.open(png).save(scan, quality=70)
        docs = {}
        for i in range(n):
            doc = pymupdf.open()
            for p in range(3):
                text = f"Reliability document {i} (seed {seed}), page {p + 1}.\n\n" + "Words to convert. " * 60
                doc.new_page(width=595, height=842).insert_textbox(pymupdf.Rect(60, 72, 535, 780), text, fontsize=11)
            doc.new_page(width=595, height=842).insert_image(pymupdf.Rect(0, 0, 595, 842), filename=str(scan))
            docs[f"batch/doc-{i:03d}.pdf"] = doc.tobytes(garbage=3, deflate=True)
            doc.close()
        return docs


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.rng = random.Random(args.seed)
        self.docs = documents(args.docs, args.seed)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.max_seconds
        self.timeline: list[dict] = []
        self.background = FaultRates(**{k: args.fault_rate / len(RANDOM_KINDS) for k in RANDOM_KINDS}, slow_seconds=0.3)
        self.proxies: list[FaultProxy] = []
        self.replicas: list[Replica] = []
        self.moto: MotoS3 | None = None
        self.uploaded: dict[str, str] = {}  # key -> phase
        self.phase, self.phase_faults = "start", {}  # faults injected per phase
        self._faults_at_phase_start: Counter[str] = Counter()
        self.kill_times: list[float] = []
        self.kills: list[dict] = []
        self.exits: list[dict] = []
        self.outage_seconds = 0.0
        self.partition: dict | None = None
        self.timed_out = False
        self._final: set[str] = set()  # keys seen with a final manifest while settling

    # -- set-up and tear-down ------------------------------------------------------
    def start(self) -> None:
        self.moto = MotoS3()
        self.bucket = self.moto.new_bucket()
        self.client = self.moto.client()
        env = {
            "DOCWATCH_S3__ADDRESSING_STYLE": "path", "DOCWATCH_POLL_INTERVAL": "1",
            "DOCWATCH_LEASE_SECONDS": str(self.args.lease), "DOCWATCH_HEALTH_PORT": "0",
            "DOCWATCH_ENGINE": "cpu", "DOCWATCH_CPU__PAGE_WORKERS": "1", "DOCWATCH_LOG_FORMAT": "json",
            "DOCWATCH_RETRY_BACKOFF_SECONDS": "1", "DOCWATCH_SHUTDOWN_GRACE_SECONDS": "2",
        }  # fmt: skip
        for n in range(self.args.replicas):
            proxy = FaultProxy(self.moto.url, self.background, seed=self.args.seed * 100 + n).start()
            self.proxies.append(proxy)
            self.replicas.append(Replica(f"r{n}", proxy.url, self.bucket, self.workdir, env))

    def stop_replicas(self, grace: float = 15) -> None:
        """SIGTERM to all (a clean stop exits 0), then SIGKILL whatever is left of a session."""
        until = time.monotonic() + grace
        for r in self.replicas:
            r.restart_at = None
            r.terminate()
        for r in self.replicas:
            if r.current is None or r.current.ended is not None:
                continue
            code = r.stop(grace=until - time.monotonic())
            if code != 0:
                self.exits.append({"replica": r.name, "incarnation": r.current.number, "code": code,
                                   "at": round(self.now(), 1), "phase": "stopped at the end (SIGTERM)"})

    def close(self) -> None:
        """Every process started, then the proxies and moto: also after Ctrl-C or an error.
        Another Ctrl-C must not cut this short (it is bounded by the stop grace)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        self.stop_replicas()
        for p in self.proxies:
            p.stop()
        if self.moto:
            self.moto.stop()
            self.moto = None

    # -- the clock -----------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def wait(self, seconds: float, until=None) -> bool:
        """Tick for up to ``seconds`` (never past the deadline); True once ``until()`` holds."""
        end = min(time.monotonic() + seconds, self.deadline)
        while True:
            self.tick()
            if until is not None and until():
                return True
            if time.monotonic() >= end:
                self.timed_out |= time.monotonic() >= self.deadline
                return False
            time.sleep(TICK)

    def tick(self) -> None:
        for r in self.replicas:
            if r.current is not None:
                r.current.log.read()
            code = r.check_exit()
            if code is not None:
                life = r.current
                assert life is not None
                errors = [e for e in life.log.events if e.get("level") in ("error", "critical")]
                self.exits.append({"replica": r.name, "incarnation": life.number, "code": code, "at": round(self.now(), 1),
                                   "phase": self.phase, "last_error": (errors[-1] if errors else None),
                                   "not_json": life.log.other_lines[-3:]})  # fmt: skip
                ready = any(e.get("event") == "engine.ready" for e in life.log.events)
                r.crashes_in_a_row = 0 if ready else r.crashes_in_a_row + 1
                r.restart_at = time.monotonic() + min(2 ** r.crashes_in_a_row, 10)
            if r.restart_at is not None and time.monotonic() >= r.restart_at:
                r.start()
        if self.kill_times and self.now() >= self.kill_times[0]:
            if self.kill_one():
                self.kill_times.pop(0)
            else:
                self.kill_times[0] = self.now() + 1  # nobody to kill now

    # -- faults ----------------------------------------------------------------------
    def enter(self, phase: str) -> None:
        total = self.faults()
        self.phase_faults[self.phase] = dict(total - self._faults_at_phase_start)
        self._faults_at_phase_start, self.phase = total, phase
        self.timeline.append({"phase": phase, "at": round(self.now(), 1), "utc": datetime.now(timezone.utc).isoformat()})

    def faults(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.proxies:
            with p.stats.lock:
                total.update(p.stats.faults)
        return total

    def kill_one(self) -> bool:
        protected = self.partition["replica"] if self.partition and not self.partition.get("over") else None
        alive = [r for r in self.replicas if r.alive() and r.name != protected]
        if not alive:
            return False
        holding = [r for r in alive if r.current and r.current.open_claims()]
        victim = self.rng.choice(holding if holding and self.rng.random() < 0.7 else alive)
        assert victim.current is not None
        keys = sorted(victim.current.open_claims())
        victim.kill9()
        victim.restart_at = time.monotonic() + 1.0
        self.kills.append({"replica": victim.name, "at": round(self.now(), 1), "phase": self.phase, "holding": keys})
        return True

    def upload(self, key: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"in/{key}", Body=self.docs[key],  # type: ignore[attr-defined]
                               ContentType="application/pdf")  # fmt: skip
        self.uploaded[key] = self.phase

    def upload_spread(self, keys: list[str], seconds: float) -> None:
        """Upload ``keys`` evenly over ``seconds`` (ticking in between)."""
        gap = seconds / (len(keys) + 1)
        for key in keys:
            self.wait(gap)
            self.upload(key)
        self.wait(gap)

    def set_rates(self, rates: FaultRates, proxies: list[FaultProxy] | None = None) -> None:
        for p in proxies or self.proxies:
            p.rates = rates

    # -- the scenario ----------------------------------------------------------------
    def scenario(self) -> None:
        a = self.args
        self.start()
        keys = list(self.docs)
        n_outage = len(keys) * 3 // 10
        n_partition = n_outage if a.partitions else 0
        before = keys[: len(keys) - n_outage - n_partition]
        during_outage = keys[len(before) : len(before) + n_outage]
        during_partition = keys[len(before) + n_outage :]
        self.enter("before")
        for key in before:
            self.upload(key)
        for r in self.replicas:
            r.start()
        self.wait(180, until=lambda: any(e.get("event") == "engine.ready" for r in self.replicas for _, e in r.events()))
        span = a.steady + a.outage + (a.partition_seconds + 10 if a.partitions else 0)
        self.kill_times = sorted(self.now() + self.rng.uniform(2, span) for _ in range(a.kills))
        self.wait(a.steady)

        self.enter("outage")
        started = self.now()
        self.set_rates(FaultRates(slowdown=1.0))
        self.upload_spread(during_outage, a.outage)
        self.set_rates(self.background)
        self.outage_seconds = round(self.now() - started, 1)

        if a.partitions:
            self.enter("after outage")
            self.cut_off_one(during_partition)
        self.enter("settle")
        self.settle()
        self.enter("end")
        self.stop_replicas()

    def cut_off_one(self, keys: list[str]) -> None:
        """Partition a replica that has just begun converting a document: every request it
        makes from now on is delivered ``--slow-seconds`` late, for ``--partition-seconds``.
        Its writes then land after its lease lapsed and another replica took the document over."""
        a = self.args
        if keys:
            self.upload(keys.pop(0))  # so that someone has a document in hand

        def converting(within: float | None) -> Replica | None:
            now = datetime.now(timezone.utc)
            busy = [r for r in self.replicas if r.alive() and r.current
                    and any(within is None or (now - t).total_seconds() < within
                            for t in r.current.converting().values())]  # fmt: skip
            return self.rng.choice(busy) if busy else None

        found = self.wait(120, until=lambda: converting(1.0) is not None)
        victim = converting(1.0) or converting(None) or self.rng.choice(self.replicas)
        self.enter("partition")
        holding = sorted(victim.current.open_claims()) if victim.current else []
        self.partition = {"replica": victim.name, "at": round(self.now(), 1), "mid_document": found, "holding": holding}
        its_proxy = self.proxies[[r.name for r in self.replicas].index(victim.name)]
        self.set_rates(FaultRates(slow=1.0, slow_seconds=a.slow_seconds), [its_proxy])
        self.upload_spread(keys, a.partition_seconds)
        self.set_rates(self.background, [its_proxy])
        self.partition["healed_at"] = round(self.now(), 1)
        self.enter("after partition")
        # its requests sent during the partition are still on their way: no kill before they land
        self.wait(a.slow_seconds + 2)
        self.partition["over"] = True

    def settle(self) -> None:
        """Leftover kills come now, while there is work; then wait until every document has a
        final manifest and no replica holds one."""
        a = self.args
        self.kill_times = [self.now() + self.rng.uniform(1, 3) * (i + 1) for i in range(len(self.kill_times))]
        end = time.monotonic() + a.settle
        self.wait(max(end - time.monotonic(), 0), until=lambda: not self.kill_times and self.all_final())

    def all_final(self) -> bool:
        if any(r.current is None or r.current.open_claims() or not r.alive() for r in self.replicas):
            return False
        pending = [k for k in self.uploaded if k not in self._final]
        self._final.update(k for k in pending if final_state(self.client, self.bucket, k) in ("succeeded", "failed"))
        return len(self._final) == len(self.uploaded)

    def evaluate(self) -> dict:
        return evaluate(self)
