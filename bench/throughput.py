"""Throughput: docwatch's pages/s against the bare PaddleOCR-VL pipeline's, on the same pages.

The real paddleocr pipeline on CPU (layout detection off, ``vllm-server`` backend) with the VL
model answered by tests/vl_stub_server.py in its fixed-latency mode (``--latency`` s per request,
``--vl-concurrency`` served at once, no Tesseract), as a GPU behind vLLM would. In one run:

- bare: the pipeline as its demo runs (its own config, batch size 64): N one-page images in one
  ``predict_iter`` call; the 64-page PDF given as a file (the pipeline renders it, at 144 DPI as
  the engine does); and, for reference, the same 64 pages pre-rendered as arrays (rendering
  then costs the pipeline nothing, which no caller gets for free);
- local: a real daemon (told the server's concurrency, ``DOCWATCH_PADDLE__VL_REC_MAX_CONCURRENCY``,
  as deploy/README.md asks an operator to) given the same N pages as N one-page PNG documents in a folder, then the
  long stream (``--long-docs``) the same way, then the PDF as one document; pages/s from the
  first ``document.claimed`` to the last ``document.succeeded`` in its log;
- s3: the same N documents in a moto bucket, the daemon reaching S3 through the fault proxy in
  slow mode (every request ``--s3-delay`` s late);
- efficiency: a daemon with tests/fixed_latency_engine.py (``--engine-seconds`` per page, no CPU):
  engine busy time (from the engine's own page timestamps) / wall time, first claim to last success.

    python bench/throughput.py [--docs 24] [--pdf-pages 64] [--parts bare local s3 efficiency] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pymupdf  # noqa: E402

from bench.daemon_runs import of, stamp, stream_figures, wait_done  # noqa: E402
from tests.daemon_harness import start_daemon  # noqa: E402
from tests.paddle_docs import make_pdf, stub_vl_env  # noqa: E402
from tests.vl_stub_server import StubVLServer  # noqa: E402

PARTS = ("bare", "local", "s3", "efficiency")


def page_lines(i: int) -> list[str]:
    return [f"Документ номер {i + 1}: проверка скорости", f"Document number {i + 1}: throughput check",
            f"Страница {i + 1} — строка для распознавания."]  # fmt: skip


def pdf_bytes(n: int, offset: int = 0) -> bytes:
    return make_pdf([page_lines(offset + i) for i in range(n)])


def png_pages(n: int) -> list[bytes]:
    """One-page documents: page i of a generated PDF at 144 DPI (the engine's render DPI)."""
    with pymupdf.open(stream=pdf_bytes(n), filetype="pdf") as doc:
        return [page.get_pixmap(dpi=144).tobytes("png") for page in doc]


def bgr_arrays(data: bytes, filetype: str) -> list[np.ndarray]:
    with pymupdf.open(stream=data, filetype=filetype) as doc:
        out = []
        for page in doc:
            pix = page.get_pixmap(dpi=144, colorspace=pymupdf.csRGB, alpha=False)
            rgb = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, 3)
            out.append(np.ascontiguousarray(rgb[:, :, ::-1]))
        return out


def bare(stub_url: str, cache: Path, pngs: list[bytes], pdf: bytes, long_pngs: list[bytes]) -> dict:
    """The pipeline alone, built the way the engine builds it (the engine's own load())."""
    from processor.engines.paddle.engine import PaddleEngine
    from processor.options import ConvertOptions, EngineName, PaddleEngineOptions

    opts = PaddleEngineOptions(device="cpu", use_layout_detection=False, vl_rec_backend="vllm-server",
                               vl_rec_server_url=stub_url, pipeline_version="v1.5", cache_dir=cache)  # fmt: skip
    engine = PaddleEngine(ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=opts), streamed=False)
    engine.load()
    try:
        images = [a for png in pngs for a in bgr_arrays(png, "png")]
        pdf_path = cache.parent / "bare.pdf"
        pdf_path.write_bytes(pdf)
        list(engine._pipeline.predict_iter(images[:1]))  # warm-up, not timed
        out = {}
        # the PDF as the demo gives it (the pipeline renders it itself), and pre-rendered arrays
        long_images = [a for png in long_pngs for a in bgr_arrays(png, "png")]
        for name, batch in (("stream", images), ("long_stream", long_images), ("pdf", str(pdf_path)),
                            ("pdf_arrays", bgr_arrays(pdf, "pdf"))):  # fmt: skip
            started = time.monotonic()
            results = list(engine._pipeline.predict_iter(batch))
            seconds = time.monotonic() - started
            out[name] = {"pages": len(results), "wall_s": round(seconds, 3), "pages_per_s": round(len(results) / seconds, 3)}
        return out
    finally:
        engine.close()


def drop_all(folder: Path, files: dict[str, bytes]) -> None:
    """Files written elsewhere, then moved into the folder at once (as a batch is dropped into a
    watched folder): complete on arrival, and old enough to need no settle time, so the stream
    is there all at once, as bare's pages are."""
    staging = folder.parent / f"{folder.name}-staging"
    staging.mkdir(exist_ok=True)
    past = time.time() - 60
    for name, data in files.items():
        (staging / name).write_bytes(data)
        os.utime(staging / name, (past, past))
    for name in files:
        (staging / name).rename(folder / name)


def run_local(tmp: Path, env: dict[str, str], pngs: list[bytes], pdf: bytes, long_pngs: list[bytes],
              timeout: float) -> dict:
    inp, out = tmp / "local-in", tmp / "local-out"
    inp.mkdir()
    d = start_daemon(tmp, str(inp), str(out), name="local", extra_env=env)
    try:
        figures = {}
        for name, docs in (("stream", pngs), ("long_stream", long_pngs)):
            keys = {f"{name}-{i:03d}.png" for i in range(len(docs))}
            drop_all(inp, {key: png for key, png in zip(sorted(keys), docs, strict=True)})
            wait_done(d, keys, timeout)
            figures[name] = stream_figures(d, keys)
        (inp / "book.pdf").write_bytes(pdf)
        wait_done(d, {"book.pdf"}, timeout)
        return {**figures, "pdf": stream_figures(d, {"book.pdf"})}
    finally:
        d.stop()


def run_s3(tmp: Path, env: dict[str, str], pngs: list[bytes], delay: float, timeout: float, name: str = "s3") -> dict:
    import boto3

    from bench.s3_side import S3Side
    from tests.s3_server import fake_aws_env

    fake_aws_env()
    side = S3Side(delay)
    store: dict = {}
    try:
        client = boto3.client("s3", endpoint_url=side.moto, region_name="us-east-1")
        bucket = f"dw-{name}"
        client.create_bucket(Bucket=bucket)
        keys = {f"doc-{i:03d}.png" for i in range(len(pngs))}
        for i, png in enumerate(pngs):
            client.put_object(Bucket=bucket, Key=f"in/doc-{i:03d}.png", Body=png)
        s3_env = {**env, "DOCWATCH_S3__ENDPOINT_URL": side.proxy, "DOCWATCH_S3__ADDRESSING_STYLE": "path"}
        d = start_daemon(tmp, f"s3://{bucket}/in/", f"s3://{bucket}/out/", name=name, extra_env=s3_env)
        try:
            wait_done(d, keys, timeout)
            figures = stream_figures(d, keys)
        finally:
            d.stop()
    finally:
        store = side.stop()
    figures["s3_requests"], figures["store_cpu_s"] = store["requests"], store["cpu_s"]
    return figures


def run_efficiency(tmp: Path, docs: int, seconds: float, timeout: float) -> dict:
    inp, out, engine_log = tmp / "eff-in", tmp / "eff-out", tmp / "fixed-engine.log"
    inp.mkdir()
    keys = {f"doc-{i:03d}.pdf" for i in range(docs)}
    for i in range(docs):
        (inp / f"doc-{i:03d}.pdf").write_bytes(pdf_bytes(1, i))
    env = {"DOCWATCH_ENGINE_CLASS": "tests.fixed_latency_engine:FixedLatencyEngine",
           "DOCWATCH_FIXED_ENGINE_SECONDS": str(seconds), "DOCWATCH_FIXED_ENGINE_LOG": str(engine_log)}  # fmt: skip
    d = start_daemon(tmp, str(inp), str(out), name="efficiency", extra_env=env)
    try:
        wait_done(d, keys, timeout)
        figures = stream_figures(d, keys)
        first = min(map(stamp, of(d, "document.claimed", keys)))
        last = max(map(stamp, of(d, "document.succeeded", keys)))
    finally:
        d.stop()
    spans = [tuple(map(float, ln.split())) for ln in engine_log.read_text().splitlines()]
    spans = [(a, b) for a, b in spans if a >= first - 0.001]  # the warm-up page came before
    busy = sum(b - a for a, b in spans)
    figures.update({"engine_seconds_per_page": seconds, "engine_pages": len(spans), "engine_busy_s": round(busy, 3),
                    "efficiency": round(busy / (last - first), 3)})  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=24, help="one-page documents in the stream")
    ap.add_argument("--pdf-pages", type=int, default=64)
    ap.add_argument("--long-docs", type=int, default=96,
                    help="one-page documents in the long S3 stream (per-document store latency overlapped)")
    ap.add_argument("--latency", type=float, default=0.5, help="VL stub seconds per request")
    ap.add_argument("--vl-concurrency", type=int, default=16, help="VL stub requests served at once")
    ap.add_argument("--s3-delay", type=float, default=0.05, help="fault proxy: seconds added to every S3 request")
    ap.add_argument("--engine-seconds", type=float, default=0.2, help="fixed-latency engine: seconds per page")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--timeout", type=float, default=600, help="per daemon run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    pngs, pdf = png_pages(args.docs), pdf_bytes(args.pdf_pages, 1000)
    long_pngs = png_pages(args.long_docs)
    result: dict = {"benchmark": "throughput", "cpus": os.cpu_count(), "docs": args.docs, "pdf_pages": args.pdf_pages,
                    "vl_stub": {"latency_s": args.latency, "max_concurrent": args.vl_concurrency}}  # fmt: skip
    stub = StubVLServer(latency=args.latency, max_concurrent=args.vl_concurrency)
    with tempfile.TemporaryDirectory(prefix="dw-tp-") as t, stub:
        tmp = Path(t)
        # docwatch is told what the server serves at once, as its operator would (deploy/README.md)
        env = stub_vl_env(stub.base_url, tmp / "pdx-cache", DOCWATCH_PADDLE__VL_REC_MAX_CONCURRENCY=str(args.vl_concurrency))
        for part in args.parts:
            started = time.monotonic()
            if part == "bare":
                result["bare"] = bare(stub.base_url, tmp / "pdx-cache", pngs, pdf, long_pngs)
            elif part == "local":
                result["local"] = run_local(tmp, env, pngs, pdf, long_pngs, args.timeout)
            elif part == "s3":
                result["s3"] = run_s3(tmp, env, pngs, args.s3_delay, args.timeout)
                result["s3_long"] = run_s3(tmp, env, long_pngs, args.s3_delay, args.timeout, name="s3-long")
            else:
                result["efficiency"] = run_efficiency(tmp, args.docs, args.engine_seconds, args.timeout)
            print(f"  {part}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        result["vl_requests"] = len(stub.requests)
    ratios(result)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text)
    table(result)
    return result


def ratios(r: dict) -> None:
    bare_of, local = r.get("bare", {}), r.get("local", {})
    rows = [("local stream", local.get("stream"), "stream"), ("local long stream", local.get("long_stream"), "long_stream"),
            ("local pdf", local.get("pdf"), "pdf"),
            ("local pdf vs arrays", local.get("pdf"), "pdf_arrays"), ("s3 stream", r.get("s3"), "stream"),
            ("s3 long stream", r.get("s3_long"), "long_stream")]  # fmt: skip
    r["ratios"] = {name: round(run["pages_per_s"] / bare_of[b]["pages_per_s"], 3)
                   for name, run, b in rows if run and bare_of.get(b) and run.get("pages_per_s")}  # fmt: skip


def table(r: dict) -> None:
    print(f"\n{'run':<22} {'pages':>5} {'wall s':>7} {'pages/s':>8} {'÷ bare':>7}  stage means (s)")
    for name, b in (("bare stream", "stream"), ("bare long stream", "long_stream"), ("bare pdf", "pdf"),
                    ("bare pdf, arrays", "pdf_arrays")):  # fmt: skip
        if row := r.get("bare", {}).get(b):
            print(f"{name:<22} {row['pages']:>5} {row['wall_s']:>7.2f} {row['pages_per_s']:>8.2f} {'':>7}")
    local = r.get("local", {})
    for name, row in (("docwatch local stream", local.get("stream")), ("docwatch local long stream", local.get("long_stream")),
                      ("docwatch local pdf", local.get("pdf")),
                      ("docwatch s3 stream", r.get("s3")), ("docwatch s3 long stream", r.get("s3_long")),
                      ("fixed-latency engine", r.get("efficiency"))):  # fmt: skip
        if row:
            ratio = r["ratios"].get(name.removeprefix("docwatch ").strip(), None)
            stages = " ".join(f"{k}={v}" for k, v in row["stage_mean_s"].items())
            print(f"{name:<22} {row['pages']:>5} {row['wall_s']:>7.2f} {row['pages_per_s'] or 0:>8.2f} "
                  f"{ratio if ratio is not None else '':>7}  {stages}")  # fmt: skip
    if eff := r.get("efficiency"):
        print(f"\ndaemon efficiency (engine busy ÷ wall, {eff['engine_seconds_per_page']} s/page engine): {eff['efficiency']}")


if __name__ == "__main__":
    main()
