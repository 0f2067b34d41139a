"""Check that every published document's outputs are the bytes its manifest records, and repair
what is not: `docwatch verify OUT [--repair]`, and the daemon every ``verify_interval`` seconds.

An output whose stored ETag is the one recorded is taken as written (both stores give a new ETag
to every write: S3 a digest of bytes stamped with the claim's number, a folder the file's own
identity); any other is read and its sha256 compared. A repair queues the document again, so a
daemon converts it anew (from its page checkpoints where a partial document kept them) and
publishes it under a new claim.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import structlog

from watcher.manifest import Status
from watcher.metrics import Metrics
from watcher.status import manifests, requeue
from watcher.storage import NotFound, Storage

log = structlog.get_logger("docwatch.verify")
_PUBLISHED = (Status.SUCCEEDED, Status.PARTIAL)


@dataclass
class Mismatch:
    input_key: str
    output_key: str
    problem: str  # "missing", "size", "sha256"


@dataclass
class VerifyReport:
    documents: int = 0
    outputs: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # input keys queued again

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        lines = [f"{self.documents} published documents, {self.outputs} outputs checked: "
                 f"{len(self.mismatches)} not as recorded"]
        lines += [f"  {m.input_key}: {m.output_key} ({m.problem})" for m in self.mismatches]
        if self.repaired:
            lines.append(f"queued again for conversion: {', '.join(self.repaired)}")
        return "\n".join(lines)


def verify(storage: Storage, *, repair: bool = False) -> VerifyReport:
    report = VerifyReport()
    for _, manifest, _ in manifests(storage):
        if manifest.status not in _PUBLISHED:
            continue
        report.documents += 1
        for out in manifest.outputs:
            report.outputs += 1
            if problem := _problem(storage, out.key, out.bytes, out.sha256, out.etag):
                report.mismatches.append(Mismatch(manifest.source.key, out.key, problem))
    broken = sorted({m.input_key for m in report.mismatches})
    if repair and broken:
        report.repaired = requeue(storage, broken)
    return report


def _problem(storage: Storage, key: str, size: int, sha256: str, etag: str | None) -> str | None:
    info = storage.head(key)
    if info is None:
        return "missing"
    if info.size != size:
        return "size"
    if etag is not None and info.etag == etag:
        return None
    try:
        data, _ = storage.get(key)
    except NotFound:
        return "missing"
    return None if hashlib.sha256(data).hexdigest() == sha256 else "sha256"


class VerifyLoop:
    """The daemon's scheduled verify, in a thread of its own (it reads every manifest)."""

    def __init__(self, storage: Storage, interval: float, metrics: Metrics, stopping: threading.Event) -> None:
        self.storage, self.interval, self.metrics, self.stopping = storage, interval, metrics, stopping
        self.thread = threading.Thread(target=self._run, name="verify", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                report = verify(self.storage, repair=True)
            except Exception as exc:  # noqa: BLE001 - a store fault: try again next round
                log.warning("verify.failed", error=str(exc))
                continue
            self.metrics.verify_mismatches.labels("found").inc(len(report.mismatches))
            self.metrics.verify_mismatches.labels("repaired").inc(len(report.repaired))
            level = log.warning if report.mismatches else log.info
            level("verify.done", documents=report.documents, outputs=report.outputs,
                  mismatches=[f"{m.output_key} ({m.problem})" for m in report.mismatches], requeued=report.repaired)
