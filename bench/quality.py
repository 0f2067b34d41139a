"""Quality benchmark: the CPU engine vs pymupdf4llm and plain Tesseract on the shared corpus.

usage: python bench/quality.py [--corpus ../shared/bench/corpus] [--out DIR] [--json FILE]
                               [--tools cpu,pymupdf4llm,tesseract] [--only SUBSTR]
                               (also: cpu-furniture, the engine with page furniture kept)
                               [--cache DIR | --no-cache]

Every tool writes ``<case>.md`` and ``_timing.json`` into ``OUT/<tool>/``; the predictions are
scored with the corpus' own ``score.py`` (imported from the corpus' parent directory), so the
numbers are the scorer's, not ours.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_CORPUS = REPO.parent / "shared" / "bench" / "corpus"
SCAN_KINDS = frozenset({"scanned", "image-derived", "image"})
Converter = Callable[[Path], "str | tuple[str, list[dict]]"]


@dataclass
class ToolSummary:
    tool: str
    ned_all: float | None
    ned_born_digital: float | None
    ned_scans: float | None
    ned_ru: float | None
    teds: float | None
    checks_passed: int
    checks_total: int
    sec_per_page_median: float | None
    cases: list[dict] = field(default_factory=list)


def load_scorer(corpus: Path):
    path = corpus.parent / "score.py"
    spec = importlib.util.spec_from_file_location("bench_score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the scorer at {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def case_input(case: Path) -> Path:
    return next(p for p in sorted(case.glob("input.*")))


# ------------------------------------------------------------------ tools
def cpu_converter() -> tuple[Converter, Callable[[], None]]:
    from processor import ConvertOptions, convert, render_markdown
    from processor.engines.cpu import CpuEngine

    options = ConvertOptions()
    engine = CpuEngine(options)
    engine.load()  # once: the worker pool is part of a running daemon, not of a document

    def run(path: Path) -> tuple[str, list[dict]]:
        doc = convert(path, options, engine=engine)
        return render_markdown(doc), page_checks(doc)

    return run, engine.close


def page_checks(doc) -> list[dict]:
    """Each page's run-time check: its agreement with the plain read and the stages undone."""
    return [{"page": p.number, "method": p.method.value, "plain_read": (p.raw or {}).get("plain_read"),
             "fallbacks": [f.model_dump(mode="json") for f in p.fallbacks]} for p in doc.pages]


def cpu_furniture_converter() -> tuple[Converter, Callable[[], None]]:
    """The CPU engine with page furniture (running heads, footers, page numbers) written where
    it stands: heads before the page's body, feet after. Not what docwatch writes; it measures
    what leaving furniture out costs against truths that keep it (text-layer truths do)."""
    from processor import ConvertOptions, convert
    from processor.document import BlockType
    from processor.engines.cpu import CpuEngine
    from processor.render.markdown import PAGE_BREAK, heading_ranks, render_page

    options = ConvertOptions()
    engine = CpuEngine(options)
    engine.load()

    def run(path: Path) -> str:
        doc = convert(path, options, engine=engine)
        ranks, parts = heading_ranks(doc), []
        for page in doc.pages:
            furniture = sorted((b for b in page.blocks if b.type.is_furniture and b.text), key=lambda b: b.bbox.y0)
            heads = [b.text.strip() for b in furniture if b.type is BlockType.HEADER]
            feet = [b.text.strip() for b in furniture if b.type is not BlockType.HEADER]
            parts += [PAGE_BREAK.format(number=page.number), *heads, render_page(page, ranks), *feet]
        return "\n\n".join(p for p in parts if p).rstrip() + "\n"

    return run, engine.close


def pymupdf4llm_converter() -> tuple[Converter, Callable[[], None]]:
    import pymupdf4llm

    def run(path: Path) -> str:
        # the same OCR languages as ours, so scans are compared like for like
        return pymupdf4llm.to_markdown(str(path), ocr_language="rus+eng")

    return run, lambda: None


def tesseract_converter(langs: str = "rus+eng", dpi: int = 300) -> tuple[Converter, Callable[[], None]]:
    import pymupdf

    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def ocr(img: Path) -> str:
        out = subprocess.run(
            ["tesseract", str(img), "stdout", "-l", langs], capture_output=True, env=env, check=True
        )
        return out.stdout.decode("utf-8", "replace")

    def run(path: Path) -> str:
        if path.suffix.lower() != ".pdf":
            return ocr(path)  # a page image is OCR'd as it is, at its own resolution
        parts = []
        with pymupdf.open(path) as doc, tempfile.TemporaryDirectory() as tmp:
            for page in doc:
                png = Path(tmp) / f"p{page.number}.png"
                page.get_pixmap(dpi=dpi).save(png)
                parts.append(ocr(png))
        return "\n\n".join(parts)

    return run, lambda: None


TOOLS: dict[str, tuple[str, Callable[[], tuple[Converter, Callable[[], None]]]]] = {
    "cpu": ("docwatch cpu", cpu_converter),
    "cpu-furniture": ("docwatch cpu, furniture kept", cpu_furniture_converter),
    "pymupdf4llm": ("pymupdf4llm 1.28.2", pymupdf4llm_converter),
    "tesseract": ("Tesseract 5.3, 300 DPI", tesseract_converter),
}


# ------------------------------------------------------------------ run + score
# The other tools do not change between our runs: their outputs are kept here, keyed by the
# tool's label and the input's sha256, and reused (the OCR runs take minutes).
BASELINES = frozenset({"pymupdf4llm", "tesseract"})
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "docwatch-quality"


def _cache_key(name: str, case: Path) -> str:
    digest = hashlib.sha256(case_input(case).read_bytes()).hexdigest()[:16]
    label = "".join(ch if ch.isalnum() else "_" for ch in TOOLS[name][0])
    return f"{label}/{case.name}-{digest}"


def run_tool(name: str, cases: list[Path], out: Path, cache: Path | None = None) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    todo = []
    for case in cases:
        hit = cache / f"{_cache_key(name, case)}.json" if cache and name in BASELINES else None
        if hit is not None and hit.exists():
            saved = json.loads(hit.read_text(encoding="utf-8"))
            (out / f"{case.name}.md").write_text(saved["markdown"], encoding="utf-8")
            timing[case.name] = saved["seconds"]
        else:
            todo.append(case)
    if todo:
        timing.update(_run(name, todo, out, cache if name in BASELINES else None))
    (out / "_timing.json").write_text(json.dumps(timing, indent=1))
    return timing


def _run(name: str, cases: list[Path], out: Path, cache: Path | None) -> dict[str, float]:
    make = TOOLS[name][1]
    convert, close = make()
    timing: dict[str, float] = {}
    try:
        for case in cases:
            t0 = time.perf_counter()
            try:
                md = convert(case_input(case))
            except Exception as exc:  # a tool that crashes on a case scores an empty prediction
                print(f"  {name}: {case.name} failed: {exc!r}", file=sys.stderr)
                md = ""
            if isinstance(md, tuple):  # the CPU engine's page checks beside its Markdown
                md, checks = md
                (out / f"{case.name}.checks.json").write_text(json.dumps(checks, ensure_ascii=False, indent=1))
            timing[case.name] = time.perf_counter() - t0
            (out / f"{case.name}.md").write_text(md, encoding="utf-8")
            if cache is not None:
                entry = cache / f"{_cache_key(name, case)}.json"
                entry.parent.mkdir(parents=True, exist_ok=True)
                entry.write_text(json.dumps({"markdown": md, "seconds": timing[case.name]}), encoding="utf-8")
    finally:
        close()
    return timing


def _mean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None


def summarise(tool: str, rows: list[dict]) -> ToolSummary:
    def ned(pred: Callable[[dict], bool]) -> float | None:
        return _mean([r.get("ned") for r in rows if pred(r)])

    spp = [r["sec_per_page"] for r in rows if r.get("sec_per_page") is not None]
    return ToolSummary(
        tool=tool,
        ned_all=ned(lambda r: True),
        ned_born_digital=ned(lambda r: r["kind"] == "born-digital"),
        ned_scans=ned(lambda r: r["kind"] in SCAN_KINDS),
        ned_ru=ned(lambda r: r["language"] == "ru"),
        teds=_mean([r.get("teds") for r in rows]),
        checks_passed=sum(r.get("checks_passed", 0) for r in rows),
        checks_total=sum(r.get("checks_total", 0) for r in rows),
        sec_per_page_median=statistics.median(spp) if spp else None,
        cases=rows,
    )


def score_dir(scorer, cases: list[Path], pred: Path, timing: dict[str, float]) -> list[dict]:
    rows = []
    for case in cases:
        pf = pred / f"{case.name}.md"
        r = scorer.score_case(case, pf.read_text(encoding="utf-8") if pf.exists() else "")
        if case.name in timing:
            r["sec_per_page"] = timing[case.name] / max(1, r["pages"])
        rows.append(r)
    return rows


def _f(v: float | None, p: int = 3) -> str:
    return "-" if v is None else f"{v:.{p}f}"


def print_tables(summaries: list[ToolSummary]) -> None:
    print("| tool | NED all | born-digital | scans/images | ru | TEDS | checks | s/page (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summaries:
        print(
            # four decimals: tools often differ in the fourth
            f"| {TOOLS[s.tool][0]} | {_f(s.ned_all, 4)} | {_f(s.ned_born_digital, 4)} | {_f(s.ned_scans, 4)} | "
            f"{_f(s.ned_ru, 4)} | {_f(s.teds, 4)} | {s.checks_passed}/{s.checks_total} | "
            f"{_f(s.sec_per_page_median, 2)} |"
        )
    print()
    print(f"{'case':44s} {'tool':12s} {'kind':13s} {'lang':4s} {'ned':>6s} {'teds':>6s} {'checks':>7s} {'s/pg':>6s}")
    for i, case in enumerate(summaries[0].cases if summaries else []):
        for s in summaries:
            r = s.cases[i]
            ch = f"{r['checks_passed']}/{r['checks_total']}" if "checks_total" in r else "-"
            print(
                f"{case['case'][:44]:44s} {s.tool[:12]:12s} {str(r['kind'])[:13]:13s} {r['language']!s:4s} "
                f"{_f(r.get('ned')):>6s} {_f(r.get('teds')):>6s} {ch:>7s} {_f(r.get('sec_per_page'), 2):>6s}"
            )


def category(row: dict) -> str:
    """The README's per-category grouping, from a case's meta.json fields."""
    scan = row["kind"] in SCAN_KINDS
    if "broken-text-layer" in row["features"]:
        return "born-digital, broken text layer"
    if "tables" in row["features"]:
        return "scans with tables" if scan else "born-digital with tables"
    return f"{'scans/images' if scan else 'born-digital'}, {row['language']}"


def print_categories(summaries: list[ToolSummary]) -> None:
    """Mean NED per category (TEDS where truths have tables, checks where there are some)."""
    names = sorted({category(r) for r in summaries[0].cases}) if summaries else []
    print()
    print("| category (cases) | " + " | ".join(TOOLS[s.tool][0] for s in summaries) + " |")
    print("|---|" + "---|" * len(summaries))
    for name in names:
        cells = []
        for s in summaries:
            rows = [r for r in s.cases if category(r) == name]
            cell = _f(_mean([r.get("ned") for r in rows]), 4)
            teds = _mean([r.get("teds") for r in rows])
            if teds is not None:
                cell += f" / TEDS {teds:.2f}"
            total = sum(r.get("checks_total", 0) for r in rows)
            if total:
                cell += f" / checks {sum(r.get('checks_passed', 0) for r in rows)}/{total}"
            cells.append(cell)
        n = sum(category(r) == name for r in summaries[0].cases)
        print(f"| {name} ({n}) | " + " | ".join(cells) + " |")


def print_checks(folder: Path) -> dict | None:
    """The CPU engine's run-time checks over the cases: stages undone by stage, and the pages
    whose result agrees least with their plain read (recall, order)."""
    files = sorted(folder.glob("*.checks.json"))
    if not files:
        return None
    by_stage: dict[str, int] = {}
    pages = []
    for f in files:
        for page in json.loads(f.read_text()):
            for fb in page["fallbacks"]:
                by_stage[fb["stage"]] = by_stage.get(fb["stage"], 0) + 1
                print(f"  fallback {f.name.removesuffix('.checks.json')} p{page['page']}: {fb['stage']} "
                      f"{fb['measure']} {fb['score_before']:.3f} -> {fb['score_after']:.3f} ({fb['reason']})")
            if page.get("plain_read"):
                pages.append((f.name.removesuffix(".checks.json"), page["page"], page["method"], page["plain_read"]))
    print(f"\n{folder.name}: {len(pages)} pages checked; fallbacks by stage: {by_stage or 'none'}")
    print("| case | page | method | recall | order | pieces per region | words |\n|---|---|---|---|---|---|---|")
    for case, number, method, pr in sorted(pages, key=lambda t: min(t[3]["recall"], t[3]["order"]))[:12]:
        print(f"| {case} | {number} | {method} | {pr['recall']:.3f} | {pr['order']:.3f} | "
              f"{pr.get('fragments', '-')} | {pr['words']} |")
    worst = max((pr.get("fragments", 0) for *_, pr in pages), default=0)
    print(f"most pieces per region on a page: {worst}")
    return {"fallbacks_by_stage": by_stage, "pages": len(pages)}


def main(argv: list[str] | None = None) -> list[ToolSummary]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, help="prediction directory (default: a temporary one)")
    ap.add_argument("--json", type=Path, help="write summaries and per-case scores here")
    ap.add_argument("--tools", default="cpu,pymupdf4llm,tesseract")
    ap.add_argument("--only", help="only cases whose id contains this substring")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help=f"where the baseline tools' outputs are kept and reused (default {DEFAULT_CACHE})")
    ap.add_argument("--no-cache", action="store_true", help="run the baseline tools again")
    a = ap.parse_args(argv)
    corpus = a.corpus.resolve()
    scorer = load_scorer(corpus)
    cases = sorted(p for p in corpus.iterdir() if (p / "meta.json").exists())
    if a.only:
        cases = [c for c in cases if a.only in c.name]
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise SystemExit(f"unknown tools {unknown}; choose from {list(TOOLS)}")
    out = a.out or Path(tempfile.mkdtemp(prefix="docwatch-quality-"))
    summaries = []
    for tool in tools:
        print(f"running {tool} on {len(cases)} cases -> {out / tool}", file=sys.stderr)
        timing = run_tool(tool, cases, out / tool, None if a.no_cache else a.cache)
        summaries.append(summarise(tool, score_dir(scorer, cases, out / tool, timing)))
    print_tables(summaries)
    print_categories(summaries)
    for tool in tools:
        print_checks(out / tool)
    if a.json:
        a.json.write_text(json.dumps([asdict(s) for s in summaries], ensure_ascii=False, indent=1))
    return summaries


if __name__ == "__main__":
    main()
