"""Resume after kill -9: a daemon is killed (SIGKILL) a third of the way through a scanned PDF;
its successor must convert only the pages that have no checkpoint yet.

Counts, from both daemons' JSON logs: ``page.converted`` events (one per page leaving the
engine) before the kill and after it, the checkpoints left on disk at the kill, and the
successor's ``resumed_pages``. Issue 8's target: events across both runs <= pages + the pages
in flight at the kill (the page workers). The CPU engine (Tesseract) by default.

    python bench/resume.py [--pages 36] [--page-workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pymupdf  # noqa: E402

from bench.daemon_runs import of, stamp, wait_done  # noqa: E402
from tests.daemon_harness import start_daemon, wait_for  # noqa: E402
from tests.docs import make_scanned_pdf  # noqa: E402


def scanned_pdf(path: Path, pages: int, tmp: Path) -> None:
    make_scanned_pdf(tmp / "one-scan.pdf")
    doc, page = pymupdf.open(), pymupdf.open(tmp / "one-scan.pdf")
    for _ in range(pages):
        doc.insert_pdf(page)
    doc.save(path)
    doc.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=36)
    ap.add_argument("--page-workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    kill_at = max(1, args.pages // 3)
    env = {"DOCWATCH_ENGINE": "cpu", "DOCWATCH_CPU__PAGE_WORKERS": str(args.page_workers), "DOCWATCH_LEASE_SECONDS": "5"}
    with tempfile.TemporaryDirectory(prefix="dw-resume-") as t:
        tmp = Path(t)
        inp, out = tmp / "in", tmp / "out"
        inp.mkdir()
        scanned_pdf(inp / "scan.pdf", args.pages, tmp)
        first = start_daemon(tmp, str(inp), str(out), name="first", extra_env=env)
        try:
            wait_for(lambda: len(of(first, "page.converted")) >= kill_at, timeout=args.timeout, interval=0.05,
                     what=f"{kill_at} pages converted")  # fmt: skip
        finally:
            first.stop(signal.SIGKILL)
        killed_at = time.time()
        before = of(first, "page.converted")
        checkpoints = sorted(p.name for p in (out / "scan.pdf" / "pages").rglob("p*.json"))
        heir = start_daemon(tmp, str(inp), str(out), name="heir", extra_env=env)
        try:
            [final] = wait_done(heir, {"scan.pdf"}, args.timeout)
        finally:
            heir.stop()
        after = of(heir, "page.converted")
        [converted] = of(heir, "document.converted") or [{}]
        started = min(map(stamp, of(heir, "document.claimed")))
        manifest = json.loads((out / "scan.pdf" / "manifest.json").read_text())
    total = len(before) + len(after)
    result = {
        "benchmark": "resume",
        "cpus": os.cpu_count(),
        "pages": args.pages,
        "page_workers": args.page_workers,
        "killed_after_pages": len(before),
        "checkpoints_at_kill": len(checkpoints),
        "successor_converted": len(after),
        "successor_resumed_pages": converted.get("resumed_pages"),
        "page_converted_events_total": total,
        "limit": args.pages + args.page_workers,
        "within_limit": total <= args.pages + args.page_workers,
        "final_status": manifest["status"],
        "final_pages": manifest["pages"],
        "attempts": manifest["attempts"],
        "successor_claim_after_kill_s": round(started - killed_at, 2),
        "successor_timings": final.get("timings"),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"\n{'pages':>5} {'killed after':>12} {'checkpoints':>11} {'successor':>9} {'resumed':>7} {'events':>6} {'limit':>5} {'status':>10}")
    print(f"{args.pages:>5} {len(before):>12} {len(checkpoints):>11} {len(after):>9} {str(converted.get('resumed_pages')):>7} "
          f"{total:>6} {result['limit']:>5} {manifest['status']:>10}")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
