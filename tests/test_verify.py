"""`docwatch verify`: published outputs are checked against their manifests and repaired by a
new conversion; the daemon runs the same check on a schedule and counts what it found."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.docs import make_text_pdf
from tests.test_daemon_stages import InProcessEngine, daemon
from watcher.cli import main
from watcher.metrics import Metrics
from watcher.status import manifests
from watcher.storage import LocalStorage
from watcher.verify import VerifyLoop, verify


def _published(tmp_path: Path):
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Checked after publishing."])
    sink, engine = LocalStorage(tmp_path / "out", create=True), InProcessEngine()
    d = daemon(tmp_path, sink, engine)
    assert d.process(d.source.head("a.pdf"))
    return d, sink, engine


def test_a_changed_output_is_found_and_repaired_by_a_new_conversion(tmp_path: Path, capsys):
    d, sink, engine = _published(tmp_path)
    assert verify(sink).ok
    md = tmp_path / "out/a.pdf/a.md"
    original = md.read_bytes()
    md.write_bytes(original.replace(b"Checked", b"Changed"))  # same size, other bytes
    report = verify(sink)
    assert [(m.output_key, m.problem) for m in report.mismatches] == [("a.pdf/a.md", "sha256")]
    assert main(["verify", str(sink.root)]) == 4 and "a.pdf/a.md (sha256)" in capsys.readouterr().out
    (tmp_path / "out/a.pdf/a.json").unlink()
    assert {m.problem for m in verify(sink).mismatches} == {"sha256", "missing"}
    assert main(["verify", str(sink.root), "--repair"]) == 0
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "queued"
    assert d.process(d.source.head("a.pdf")) and engine.calls == 2
    assert verify(sink).ok and b"Checked" in md.read_bytes()


def test_the_daemon_verifies_on_a_schedule_and_counts(tmp_path: Path):
    _, sink, _ = _published(tmp_path)
    (tmp_path / "out/a.pdf/a.md").write_text("overwritten")
    metrics, stopping = Metrics(), threading.Event()
    VerifyLoop(sink, 0.2, metrics, stopping).start()
    deadline = time.monotonic() + 20
    while metrics.verify_mismatches.labels("repaired")._value.get() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    stopping.set()
    assert metrics.verify_mismatches.labels("found")._value.get() >= 1
    assert metrics.verify_mismatches.labels("repaired")._value.get() == 1
    [(_, m, _)] = list(manifests(sink))
    assert m.status.value == "queued"
