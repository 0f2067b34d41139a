"""PaddleOCR-VL engine over the shared benchmark corpus: quality (the corpus' score.py) and pages/s.

usage: python bench/paddle_vl.py [--corpus ../shared/bench/corpus] [--out DIR]
                                 [--model-dir DIR] [--pipeline-version v1.6] [--device gpu:0]
                                 [--vl-server-url http://host:8118/v1] [--only SUBSTR]

Needs a GPU and the models (``docwatch models fetch --dir DIR``); with ``--vl-server-url`` the VL
model runs on that vLLM server and only the layout model is needed locally. When the GPU or the
models are missing it says so plainly and exits 0, so it is safe to run anywhere.

Writes ``OUT/<case>.md`` and ``OUT/_timing.json`` and prints the scorer's table plus pages/s
(wall time of the conversions after warm-up, model loading excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_CORPUS = REPO.parent / "shared" / "bench" / "corpus"


def gpu_available() -> tuple[bool, str]:
    try:
        import paddle
    except ImportError as exc:
        return False, f"paddlepaddle is not installed ({exc})"
    if not paddle.device.is_compiled_with_cuda():
        return False, f"paddlepaddle {paddle.__version__} is a CPU build (install paddlepaddle-gpu)"
    try:
        count = paddle.device.cuda.device_count()
    except Exception as exc:  # noqa: BLE001 - driver problems surface here
        return False, f"CUDA is not usable: {exc}"
    if count < 1:
        return False, "no CUDA device is visible"
    return True, f"{count} CUDA device(s)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=None, help="prediction dir (default: a temp dir)")
    ap.add_argument("--model-dir", type=Path, default=os.environ.get("DOCWATCH_PADDLE__MODEL_DIR"))
    ap.add_argument("--pipeline-version", default="v1.6", choices=["v1", "v1.5", "v1.6"])
    ap.add_argument("--device", default="gpu:0")
    ap.add_argument("--vl-server-url", default=None, help="use a vllm-server backend at this URL")
    ap.add_argument("--only", default=None, help="only cases whose id contains this")
    ap.add_argument("--no-layout", action="store_true", help="use_layout_detection=False (whole pages)")
    args = ap.parse_args(argv)

    from processor import ConvertOptions, EngineName, convert, models, render_markdown
    from processor.options import PaddleEngineOptions

    paddle_opts = PaddleEngineOptions(
        pipeline_version=args.pipeline_version,
        device=args.device,
        model_dir=args.model_dir,
        use_layout_detection=not args.no_layout,
        **({"vl_rec_backend": "vllm-server", "vl_rec_server_url": args.vl_server_url} if args.vl_server_url else {}),
    )
    options = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=paddle_opts)

    if args.device.startswith("gpu"):
        ok, why = gpu_available()
        if not ok:
            print(f"paddle_vl bench skipped: no GPU ({why}). Run it on a machine with an NVIDIA GPU.")
            return 0
    report = models.verify(options)
    if not report.ok:
        print("paddle_vl bench skipped: the models are not present.")
        print(report)
        print("Fetch them with: docwatch models fetch --dir DIR (then --model-dir DIR)")
        return 0
    if not args.corpus.is_dir():
        print(f"paddle_vl bench skipped: no corpus at {args.corpus}")
        return 0

    from processor.engines import create_engine

    out = args.out or Path(tempfile.mkdtemp(prefix="paddle-vl-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    engine = create_engine(options)
    started = time.monotonic()
    engine.load()
    engine.warm_up()
    print(f"engine loaded and warmed up in {time.monotonic() - started:.1f}s: {engine.info.options}")

    timing: dict[str, float] = {}
    pages = 0
    failed = 0
    try:
        for case in sorted(p for p in args.corpus.iterdir() if p.is_dir()):
            if args.only and args.only not in case.name:
                continue
            src = next(iter(sorted(case.glob("input.*"))), None)
            if src is None:
                continue
            t0 = time.monotonic()
            try:
                doc = convert(src, options, engine=engine)
                (out / f"{case.name}.md").write_text(render_markdown(doc))
                pages += len(doc.pages)
                failed += len(doc.failed_pages)
            except Exception as exc:  # noqa: BLE001 - report the case and go on
                print(f"{case.name}: FAILED {type(exc).__name__}: {exc}")
                (out / f"{case.name}.md").write_text("")
            timing[case.name] = time.monotonic() - t0
            print(f"{case.name}: {timing[case.name]:.1f}s")
    finally:
        engine.close()
    (out / "_timing.json").write_text(json.dumps(timing, indent=2))

    total = sum(timing.values())
    scorer = args.corpus.parent / "score.py"
    if scorer.is_file():
        cmd = [sys.executable, str(scorer), str(out), "--corpus", str(args.corpus), "--json", str(out / "scores.json")]
        if args.only:
            cmd += ["--only", args.only]
        subprocess.run(cmd, check=False)
    else:
        print(f"no scorer at {scorer}; predictions are in {out}")
    rate = pages / total if total else 0.0
    print(f"\nPaddleOCR-VL {args.pipeline_version} on {args.device}"
          f"{' via ' + args.vl_server_url if args.vl_server_url else ''}: "
          f"{pages} pages ({failed} failed) in {total:.1f}s = {rate:.2f} pages/s; predictions in {out}")  # fmt: skip
    if args.out is None:
        print(f"(temporary directory; remove with: rm -rf {shlex_quote(out)})")
    return 0


def shlex_quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


if __name__ == "__main__":
    sys.exit(main())
