"""Speed of the CPU engine per page, by how the page was read, and what the layout model costs.

usage: python bench/cpu_speed.py [--corpus ../shared/bench/corpus] [--only SUBSTR] [--json FILE]

Converts every corpus document with the CPU engine (pages in parallel, as the daemon runs
them) and reports the median and 90th percentile of the per-page seconds the engine records,
for text-layer pages and OCR pages apart. The layout model is then timed on its own on every
OCR page (one thread, as a worker runs it), so its share of an OCR page is visible. Prints a
table and, with --json, writes the numbers.
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

DEFAULT_CORPUS = REPO.parent / "shared" / "bench" / "corpus"


def _q(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--only", help="only cases whose id contains this substring")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)

    import pymupdf

    from processor import ConvertOptions, convert
    from processor.document import PageMethod
    from processor.engines.cpu import CpuEngine
    from processor.engines.cpu.layout_model import detect
    from processor.engines.cpu.ocr import render

    options = ConvertOptions()
    engine = CpuEngine(options)
    engine.load()
    seconds: dict[str, list[float]] = {"text_layer": [], "ocr": []}
    layout: list[float] = []
    cpu_seconds: list[float] = []  # OCR pages again, one at a time: CPU time, which load does not inflate
    inputs = sorted(p for c in a.corpus.resolve().iterdir() if (c / "meta.json").exists() for p in c.glob("input.*"))
    if a.only:
        inputs = [p for p in inputs if a.only in p.parent.name]
    try:
        for path in inputs:
            doc = convert(path, options, engine=engine)
            ocr_pages = []
            for page in doc.pages:
                if page.method is PageMethod.TEXT_LAYER:
                    seconds["text_layer"].append(page.seconds or 0.0)
                elif page.method is PageMethod.OCR:
                    seconds["ocr"].append(page.seconds or 0.0)
                    ocr_pages.append(page.number - 1)
            with pymupdf.open(path) as pdf:
                for i in ocr_pages:
                    image = render(pdf[i], options.cpu.ocr_dpi, path.suffix.lower() != ".pdf")
                    detect(image.gray, image.to_page)  # the first call in a process loads the model
                    t0 = time.perf_counter()
                    detect(image.gray, image.to_page)
                    layout.append(time.perf_counter() - t0)
                    cpu_seconds.append(_cpu_seconds_of_page(pdf, i, options, path.suffix.lower() != ".pdf"))
    finally:
        engine.close()
    result = {
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "pages": {k: len(v) for k, v in seconds.items()},
        "median_s": {k: _q(v, 0.5) for k, v in seconds.items()},
        "p90_s": {k: _q(v, 0.9) for k, v in seconds.items()},
        "layout_model_s_median": statistics.median(layout) if layout else None,
        "ocr_page_cpu_s_median": statistics.median(cpu_seconds) if cpu_seconds else None,
    }
    print("| pages | count | median s/page | p90 s/page |")
    print("|---|---|---|---|")
    for k in seconds:
        med, p90 = result["median_s"][k], result["p90_s"][k]
        print(f"| {k} | {len(seconds[k])} | {med if med is None else f'{med:.2f}'} | "
              f"{p90 if p90 is None else f'{p90:.2f}'} |")
    lm = result["layout_model_s_median"]
    print(f"\nlayout model per OCR page (median, 1 thread): {lm if lm is None else f'{lm:.2f}'} s")
    cs = result["ocr_page_cpu_s_median"]
    print(f"OCR page CPU time (median, this process + Tesseract): {cs if cs is None else f'{cs:.2f}'} s")
    print(f"load average during the run: {result['load_average_1min']:.1f} on {result['cores']} cores")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))
    return result


def _cpu_seconds_of_page(pdf, index: int, options, is_image: bool) -> float:
    """CPU seconds (user + system, this process and its Tesseract children) for one page: on a
    shared machine wall time measures the neighbours too, CPU time what the page costs."""
    import resource

    from processor.engines.cpu.page import PageTask, process_page

    task = PageTask(index=index, is_image=is_image, cpu=options.cpu, figure_dpi=options.figure_dpi)

    def used() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    before = used()
    process_page(pdf, task)
    return used() - before


if __name__ == "__main__":
    main()
