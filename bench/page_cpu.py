"""CPU seconds per page of the CPU engine, page by page in this process (one thread, as a
worker runs it), by how the page was read: what a page costs on an idle core, whatever else the
machine is doing (wall-clock figures are in cpu_speed.py).

usage: python bench/page_cpu.py [--corpus ../shared/bench/corpus] [--only SUBSTR] [--runs 1] [--json FILE]

Each page is converted ``--runs`` times after one warm-up page (models loaded); the best run
counts. Prints a table (median, 90th percentile, max per method; the slowest pages) and JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

DEFAULT_CORPUS = REPO.parent / "shared" / "bench" / "corpus"


def _open(path: Path):
    import pymupdf

    if path.suffix.lower() == ".pdf":
        return pymupdf.open(path), False
    with pymupdf.open(path) as image:
        return pymupdf.open("pdf", image.convert_to_pdf()), True


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--only", help="only cases whose id contains this substring")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    from processor.engines.cpu.page import PageTask, process_page
    from processor.options import CpuEngineOptions

    inputs = sorted(p for case in a.corpus.iterdir() for p in case.glob("input.*") if not a.only or a.only in case.name)
    rows: list[dict] = []
    warmed = False
    for path in inputs:
        doc, is_image = _open(path)
        for index in range(doc.page_count):
            task = PageTask(index=index, is_image=is_image, cpu=CpuEngineOptions(), figure_dpi=144)
            if not warmed:
                process_page(doc, task)
                warmed = True
            best = None
            for _ in range(a.runs):
                t0 = time.process_time()
                page = process_page(doc, task).page
                spent = time.process_time() - t0
                best = spent if best is None else min(best, spent)
            rows.append({"case": path.parent.name, "page": index + 1, "method": page.method.value,
                         "cpu_seconds": round(best, 3)})
        doc.close()
    summary = {}
    for method in sorted({r["method"] for r in rows}):
        xs = sorted(r["cpu_seconds"] for r in rows if r["method"] == method)
        summary[method] = {"pages": len(xs), "median": round(statistics.median(xs), 3),
                           "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))], "max": xs[-1]}
    print("| method | pages | median CPU s | p90 | max |\n|---|---|---|---|---|")
    for method, s in summary.items():
        print(f"| {method} | {s['pages']} | {s['median']} | {s['p90']} | {s['max']} |")
    print("\nslowest pages:")
    for r in sorted(rows, key=lambda r: -r["cpu_seconds"])[:8]:
        print(f"  {r['case']} p{r['page']} ({r['method']}): {r['cpu_seconds']} s")
    result = {"summary": summary, "pages": rows}
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
