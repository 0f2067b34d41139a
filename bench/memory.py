"""Peak RSS of the daemon's whole process tree (daemon, engine child, its page workers) while it
converts one PDF with a figure on every page: a small one and a large one, each in a fresh daemon.

/proc is sampled every ``--interval`` s from the daemon's start until the document's manifest
says it is done. Issue 8's target: the large (400-page) PDF peaks at <= 1.3x the small (10-page)
one. The CPU engine by default (text layer + figure crops; fast), two page workers.

    python bench/memory.py [--pages 10 400] [--engine cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pymupdf  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from bench.daemon_runs import of, tree_rss, wait_done  # noqa: E402
from tests.daemon_harness import start_daemon  # noqa: E402
from tests.docs import EN_PARAGRAPHS, RU_PARAGRAPHS, font_path  # noqa: E402

MB = 1024 * 1024


def figure_png(i: int) -> bytes:
    """A different picture per page (so the PDF grows with its pages, as real ones do), with a
    photo-like grainy band so it weighs tens of kB, like a real figure."""
    rng = np.random.default_rng(i)
    pixels = np.full((300, 480, 3), 235, dtype=np.uint8)
    pixels[200:] = rng.integers(90, 170, size=(100, 480, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    draw = ImageDraw.Draw(img)
    for k in range(12):
        x, y = (i * 37 + k * 53) % 420, (i * 23 + k * 29) % 240
        draw.ellipse((x, y, x + 60, y + 60), fill=((i * 7 + k * 40) % 256, (k * 70) % 256, (i * 13) % 256))
    draw.text((10, 10), f"Figure {i + 1}", fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def figure_pdf(path: Path, pages: int) -> int:
    doc = pymupdf.open()
    font = str(font_path())
    for i in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_font(fontname="dv", fontfile=font)
        page.insert_textbox(pymupdf.Rect(60, 60, 535, 300), f"{i + 1}. " + RU_PARAGRAPHS[i % len(RU_PARAGRAPHS)],
                            fontname="dv", fontsize=11)  # fmt: skip
        page.insert_image(pymupdf.Rect(110, 320, 490, 560), stream=figure_png(i))
        page.insert_textbox(pymupdf.Rect(60, 580, 535, 800), EN_PARAGRAPHS[i % len(EN_PARAGRAPHS)], fontname="dv", fontsize=11)
    doc.subset_fonts()
    doc.save(path, garbage=3, deflate=True)
    doc.close()
    return path.stat().st_size


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak, self.samples = 0, 0
        self.at_peak: list[tuple[int, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            rss, procs = tree_rss(self.pid)
            self.samples += 1
            if rss > self.peak:
                self.peak, self.at_peak = rss, procs
            self.stopped.wait(self.interval)


def measure(tmp: Path, pages: int, env: dict[str, str], interval: float, timeout: float) -> dict:
    inp, out = tmp / f"in-{pages}", tmp / f"out-{pages}"
    inp.mkdir()
    size = figure_pdf(tmp / f"figures-{pages}.pdf", pages)
    d = start_daemon(tmp, str(inp), str(out), name=f"mem-{pages}", extra_env=env)
    sampler = Sampler(d.proc.pid, interval)
    sampler.start()
    try:
        deadline = time.monotonic() + timeout
        while not of(d, "engine.ready") and time.monotonic() < deadline and d.proc.poll() is None:
            time.sleep(0.1)
        idle, _ = tree_rss(d.proc.pid)
        (tmp / f"figures-{pages}.pdf").rename(inp / "figures.pdf")
        [final] = wait_done(d, {"figures.pdf"}, timeout)
    finally:
        sampler.stopped.set()
        sampler.join()
        d.stop()
    return {
        "pages": pages,
        "pdf_mb": round(size / MB, 2),
        "status": final["event"].removeprefix("document."),
        "pages_done": final.get("pages"),
        "idle_mb": round(idle / MB, 1),
        "peak_mb": round(sampler.peak / MB, 1),
        "growth_mb": round((sampler.peak - idle) / MB, 1),  # above the loaded, idle tree
        "processes_at_peak": len(sampler.at_peak),
        # (depth, MB): 0 the daemon, 1 its children (the engine host, a resource tracker), 2 page workers
        "peak_by_process_mb": [(depth, round(rss / MB, 1)) for depth, rss in sampler.at_peak],
        "samples": sampler.samples,
        "timings": final.get("timings"),
    }


def roles(r: dict) -> str:
    names = {0: "daemon", 1: "child", 2: "worker"}
    return " ".join(f"{names.get(depth, 'other')}={mb:.0f}" for depth, mb in r["peak_by_process_mb"])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, nargs=2, default=[10, 400], metavar=("SMALL", "LARGE"))
    ap.add_argument("--engine", default="cpu", help="DOCWATCH_ENGINE (cpu; paddle needs a VL server)")
    ap.add_argument("--page-workers", default="2")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between /proc samples")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    env = {"DOCWATCH_ENGINE": args.engine, "DOCWATCH_CPU__PAGE_WORKERS": args.page_workers, "DOCWATCH_LEASE_SECONDS": "60"}
    with tempfile.TemporaryDirectory(prefix="dw-mem-") as t:
        runs = [measure(Path(t), n, env, args.interval, args.timeout) for n in args.pages]
    small, large = runs
    result = {"benchmark": "memory", "cpus": os.cpu_count(), "engine": args.engine, "runs": runs,
              "ratio_large_to_small": round(large["peak_mb"] / small["peak_mb"], 3), "target": 1.3}  # fmt: skip
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"\n{'pages':>5} {'pdf MB':>7} {'status':>10} {'idle MB':>8} {'peak MB':>8} {'growth':>7} {'procs':>5}  MB at peak by process; timings")
    for r in runs:
        print(f"{r['pages']:>5} {r['pdf_mb']:>7.2f} {r['status']:>10} {r['idle_mb']:>8.1f} {r['peak_mb']:>8.1f} {r['growth_mb']:>7.1f} "
              f"{r['processes_at_peak']:>5}  {roles(r)}; {r['timings']}")  # fmt: skip
    print(f"\npeak ratio {large['pages']} ÷ {small['pages']} pages: {result['ratio_large_to_small']} (target <= 1.3)")
    return result


if __name__ == "__main__":
    main()
