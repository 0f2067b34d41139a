"""Harm benchmark: the CPU engine vs plain Tesseract on generated pages where the engine has
been seen to lose text that Tesseract keeps (``tests/docs_harm.py``): a scanned two-column
index, a scanned wide table, a code listing whose /ToUnicode map is wrong, an ordinary
Russian scan with a list.

usage: python bench/harm.py [--seeds 3] [--out DIR] [--json FILE] [--only SUBSTR]

Each case is generated into ``OUT/cases/`` (the input and ``<case>.truth.txt``); the engine's
Markdown and JSON go to ``OUT/cpu/``, Tesseract's text to ``OUT/tesseract/``. Both are scored
against the truth with the shared corpus scorer's text normalisation (``md_to_text``) and
edit distance: NED = lev / max(len) (0 best), and a bag-of-words F1 (1 best; insensitive to
reading order, so a low NED with a high wF1 is text in the wrong order, not lost text).
Tesseract is ``bench/quality.py``'s tool: ``tesseract page.png stdout -l rus+eng`` (psm 3) on
a 300 DPI render.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.quality import DEFAULT_CORPUS, load_scorer, tesseract_converter
from tests.docs_harm import (
    make_broken_tounicode_code_pdf,
    make_index_scan,
    make_russian_list_scan,
    make_wide_table_scan,
)


def cases(seeds: int) -> list[tuple[str, str, Callable[[Path], object]]]:
    """(category, case name, generator of the case's file) for every seed."""
    out = []
    for s in range(seeds):
        out += [
            ("index scan", f"index-en-{s}", lambda p, s=s: make_index_scan(p, language="en", seed=s)),
            ("index scan", f"index-ru-{s}", lambda p, s=s: make_index_scan(p, language="ru", seed=s)),
            ("index scan, numbers flush right", f"index-right-en-{s}",
             lambda p, s=s: make_index_scan(p, language="en", seed=s, numbers="right")),
            ("index scan, numbers flush right", f"index-right-ru-{s}",
             lambda p, s=s: make_index_scan(p, language="ru", seed=s, numbers="right")),
            ("index scan, dot leaders", f"index-leaders-en-{s}",
             lambda p, s=s: make_index_scan(p, language="en", seed=s, numbers="leaders")),
            ("index scan, dot leaders", f"index-leaders-ru-{s}",
             lambda p, s=s: make_index_scan(p, language="ru", seed=s, numbers="leaders")),
            ("wide table scan", f"table-ruled-{s}", lambda p, s=s: make_wide_table_scan(p, ruled=True, seed=s)),
            ("wide table scan", f"table-light-{s}", lambda p, s=s: make_wide_table_scan(p, ruled=False, seed=s)),
            ("wide table scan, turned 1 degree", f"table-ruled-turned-{s}",
             lambda p, s=s: make_wide_table_scan(p, ruled=True, seed=s, angle=1.0 if s % 2 else -1.0)),
            ("code, wrong ToUnicode", f"code-wrong-{s}", lambda p, s=s: make_broken_tounicode_code_pdf(p, seed=s)),
            ("ru scan with list", f"ru-list-{s}", lambda p, s=s: make_russian_list_scan(p, seed=s)),
        ]
    out += [
        ("code, wrong ToUnicode", "code-wrong-cyrillic-0",
         lambda p: make_broken_tounicode_code_pdf(p, seed=0, cyrillic=True)),
        ("code, no ToUnicode (control)", "code-none-0",
         lambda p: make_broken_tounicode_code_pdf(p, seed=0, tounicode="none")),
    ]
    return out


_LEADERS = re.compile(r"(?:[.…·•]\s?){3,}")


def scores(scorer, pred_md: str, truth: str) -> dict[str, float]:
    """NED and word F1 of the prediction; dot leaders (three dots or more) are dropped from both
    sides first: they are not text, and no two readings count them alike."""
    p, t = scorer.md_to_text(_LEADERS.sub(" ", pred_md)), scorer.md_to_text(_LEADERS.sub(" ", truth))
    ned = scorer.lev(p, t) / max(1, len(p), len(t))
    tw, pw = Counter(re.findall(r"\w+", t.casefold())), Counter(re.findall(r"\w+", p.casefold()))
    inter = sum((tw & pw).values())
    prec, rec = inter / max(1, sum(pw.values())), inter / max(1, sum(tw.values()))
    return {"ned": ned, "wf1": 0.0 if not inter else 2 * prec * rec / (prec + rec)}


def shape(doc) -> dict:
    """What the engine made of the page: its method, its blocks by type, its tables' grids."""
    page = doc.pages[0]
    types = Counter(str(b.type) for b in page.blocks)
    tables = []
    for b in page.blocks:
        if str(b.type) == "table" and b.cells:
            texts = [c.text for c in b.cells]
            tables.append({
                "rows": 1 + max(c.row + c.row_span - 1 for c in b.cells),
                "cols": 1 + max(c.col + c.col_span - 1 for c in b.cells),
                "cells": len(b.cells), "empty": sum(not t.strip() for t in texts),
                "max_row_span": max(c.row_span for c in b.cells),
                "longest_cell_chars": max(len(t) for t in texts),
            })
    chars = Counter()
    for b in page.blocks:
        chars[str(b.type)] += len((b.text or "") + "".join(c.text for c in b.cells or []))
    return {"method": str(page.method), "blocks": dict(types), "chars_by_type": dict(chars), "tables": tables}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--only", help="only cases whose name contains this substring")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="its parent holds score.py")
    a = ap.parse_args(argv)
    scorer = load_scorer(a.corpus.resolve())
    out = a.out or Path(tempfile.mkdtemp(prefix="docwatch-harm-"))
    for sub in ("cases", "cpu", "tesseract"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    todo = [c for c in cases(a.seeds) if not a.only or a.only in c[1]]

    from processor import ConvertOptions, convert, document_json, render_markdown
    from processor.engines.cpu import CpuEngine

    options = ConvertOptions()
    engine = CpuEngine(options)
    engine.load()
    tesseract, _ = tesseract_converter()
    rows = []
    try:
        for category, name, make in todo:
            path = out / "cases" / f"{name}.pdf"
            truth = make(path).text
            (out / "cases" / f"{name}.truth.txt").write_text(truth, encoding="utf-8")
            t0 = time.perf_counter()
            doc = convert(path, options, engine=engine)
            cpu_s = time.perf_counter() - t0
            md = render_markdown(doc)
            (out / "cpu" / f"{name}.md").write_text(md, encoding="utf-8")
            (out / "cpu" / f"{name}.json").write_text(document_json(doc), encoding="utf-8")
            t0 = time.perf_counter()
            ocr = tesseract(path)
            tess_s = time.perf_counter() - t0
            (out / "tesseract" / f"{name}.txt").write_text(ocr, encoding="utf-8")
            row = {"category": category, "case": name, "cpu": scores(scorer, md, truth),
                   "tesseract": scores(scorer, ocr, truth), "cpu_seconds": round(cpu_s, 2),
                   "tesseract_seconds": round(tess_s, 2), "cpu_shape": shape(doc)}
            rows.append(row)
            print(f"  {name}: cpu {row['cpu']['ned']:.3f} tesseract {row['tesseract']['ned']:.3f}", file=sys.stderr)
    finally:
        engine.close()
    result = {"out": str(out), "categories": summarise(rows), "cases": rows}
    print_tables(result)
    if a.json:
        a.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def summarise(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for cat in dict.fromkeys(r["category"] for r in rows):
        mine = [r for r in rows if r["category"] == cat]
        out[cat] = {"cases": len(mine)} | {
            f"{tool}_{m}": sum(r[tool][m] for r in mine) / len(mine) for tool in ("cpu", "tesseract") for m in ("ned", "wf1")
        }
    return out


def print_tables(result: dict) -> None:
    print("| category (cases) | NED docwatch cpu | NED Tesseract | wF1 docwatch cpu | wF1 Tesseract |")
    print("|---|---|---|---|---|")
    for cat, s in result["categories"].items():
        print(f"| {cat} ({s['cases']}) | {s['cpu_ned']:.3f} | {s['tesseract_ned']:.3f} | "
              f"{s['cpu_wf1']:.3f} | {s['tesseract_wf1']:.3f} |")
    print()
    print("| case | NED cpu | NED tess | wF1 cpu | wF1 tess | cpu method, blocks | s cpu / tess |")
    print("|---|---|---|---|---|---|---|")
    for r in result["cases"]:
        sh = r["cpu_shape"]
        blocks = ", ".join(f"{k} {v}" for k, v in sorted(sh["blocks"].items()))
        grids = "; ".join(f"table {t['rows']}x{t['cols']} rowspan≤{t['max_row_span']} empty {t['empty']}"
                          for t in sh["tables"])
        print(f"| {r['case']} | {r['cpu']['ned']:.3f} | {r['tesseract']['ned']:.3f} | {r['cpu']['wf1']:.3f} | "
              f"{r['tesseract']['wf1']:.3f} | {sh['method']}: {blocks}{'; ' + grids if grids else ''} | "
              f"{r['cpu_seconds']:.1f} / {r['tesseract_seconds']:.1f} |")
    print(f"\n(outputs in {result['out']})")


if __name__ == "__main__":
    main()
