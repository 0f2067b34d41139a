"""How long ``docwatch convert`` takes from start to exit for a one-page document: a text-layer
PDF (no model should load) and, for comparison, a scanned page (OCR and the layout model).

usage: python bench/convert_start.py [--runs 5] [--json FILE]

Prints a table and the same figures as JSON (median wall seconds of ``--runs`` runs each).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.docs import make_scanned_pdf, make_text_pdf

TEXT = "Quarterly report\n\n" + "Revenue grew in every region this quarter, and costs stayed flat. " * 12


def timed_convert(doc: Path, out: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "watcher", "convert", str(doc), "-o", str(out)],
                       capture_output=True, env=env, cwd=REPO, timeout=600, check=False)
    return time.perf_counter() - start, r.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = {"one-page text PDF": make_text_pdf(Path(tmp) / "text.pdf", [TEXT]).path,
                "one-page scanned PDF": make_scanned_pdf(Path(tmp) / "scan.pdf").path}
        for name, doc in docs.items():
            runs = [timed_convert(doc, Path(tmp) / f"out{i}") for i in range(args.runs)]
            rows.append({"document": name, "runs": args.runs, "median_s": round(statistics.median(s for s, _ in runs), 3),
                         "min_s": round(min(s for s, _ in runs), 3), "exit_codes": [c for _, c in runs]})
    result = {"bench": "convert_start", "rows": rows}
    print(f"{'document':<22} {'runs':>4} {'median s':>9} {'min s':>7}")
    for row in rows:
        print(f"{row['document']:<22} {row['runs']:>4} {row['median_s']:>9.3f} {row['min_s']:>7.3f}")
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if all(c == 0 for row in rows for c in row["exit_codes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
