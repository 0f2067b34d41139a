"""PaddleOCR-VL engine over the shared benchmark corpus: quality (the corpus' score.py) and pages/s.

usage: python bench/paddle_vl.py [--corpus ../shared/bench/corpus | --inputs DIR] [--out DIR]
                                 [--model-dir DIR] [--pipeline-version v1.6] [--device gpu:0]
                                 [--vl-server-url http://host:8118/v1] [--vl-model-name NAME]
                                 [--only SUBSTR] [--bare] [--json FILE] [--strict]

Needs a GPU and the models (``docwatch models fetch --cache-home DIR``, then ``--model-dir
DIR/official_models``); with ``--vl-server-url`` the VL model runs on that vLLM server and only the
layout model is needed locally. When the GPU or the models are missing it says so plainly and exits
0 (``--strict``: 1), so it is safe to run anywhere.

``--inputs DIR`` converts every document file in DIR instead of the corpus' cases (the GPU smoke
test's samples). ``--bare`` runs the pipeline as its own demo does (``predict(file)`` ->
``restructure_pages`` -> ``concatenate_markdown_pages``), without docwatch's page handling: the
reference pages/s. Other DOCWATCH_PADDLE__* settings in the environment apply too.

Writes ``OUT/<case>.md`` and ``OUT/_timing.json`` and prints the scorer's table plus pages/s
(wall time of the conversions after warm-up, model loading excluded); ``--json FILE`` writes
``{"pages", "failed", "seconds", "pages_per_second", "mode", "pipeline_version"}``.
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
    ap.add_argument("--inputs", type=Path, default=None, help="convert every document in this dir instead")
    ap.add_argument("--bare", action="store_true", help="the pipeline alone, as its demo runs it")
    ap.add_argument("--vl-model-name", default=None, help="the model name the VL server serves")
    ap.add_argument("--json", type=Path, default=None, help="write pages, seconds, pages/s here")
    ap.add_argument("--strict", action="store_true", help="exit 1 instead of skipping (no GPU, models, inputs)")
    args = ap.parse_args(argv)

    from processor import ConvertOptions, EngineName, convert, render_markdown
    from processor.engines.paddle import models
    from watcher.settings import Settings

    env_paddle = Settings().paddle  # DOCWATCH_PADDLE__* from the environment, then the flags below
    update = {"pipeline_version": args.pipeline_version, "device": args.device}
    if args.model_dir:
        update["model_dir"] = args.model_dir
    if args.no_layout:
        update["use_layout_detection"] = False
    if args.vl_server_url:
        update.update(vl_rec_backend="vllm-server", vl_rec_server_url=args.vl_server_url)
    if args.vl_model_name:
        update["vl_rec_api_model_name"] = args.vl_model_name
    paddle_opts = type(env_paddle).model_validate({**env_paddle.model_dump(), **update})
    options = ConvertOptions(engine=EngineName.PADDLEOCR_VL, paddle=paddle_opts)
    skip = 1 if args.strict else 0

    if args.device.startswith("gpu"):
        ok, why = gpu_available()
        if not ok:
            print(f"paddle_vl bench skipped: no GPU ({why}). Run it on a machine with an NVIDIA GPU.")
            return skip
    report = models.verify(options)
    if not report.ok:
        print("paddle_vl bench skipped: the models are not present.")
        print(report)
        print("Fetch them with: docwatch models fetch --cache-home DIR (then --model-dir DIR/official_models)")
        return skip
    cases = list_cases(args)
    if not cases:
        print(f"paddle_vl bench skipped: no documents in {args.inputs or args.corpus}")
        return skip

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
        for name, src in cases:
            t0 = time.monotonic()
            try:
                if args.bare:
                    markdown, n = engine.run_bare(src)
                else:
                    doc = convert(src, options, engine=engine)
                    markdown, n = render_markdown(doc), len(doc.pages)
                    failed += len(doc.failed_pages)
                (out / f"{name}.md").write_text(markdown)
                pages += n
            except Exception as exc:  # noqa: BLE001 - report the case and go on
                print(f"{name}: FAILED {type(exc).__name__}: {exc}")
                (out / f"{name}.md").write_text("")
                failed += 1
            timing[name] = time.monotonic() - t0
            print(f"{name}: {timing[name]:.1f}s")
    finally:
        engine.close()
    (out / "_timing.json").write_text(json.dumps(timing, indent=2))

    total = sum(timing.values())
    scorer = args.corpus.parent / "score.py"
    if args.inputs is not None:
        pass  # the smoke samples are scored by bench/gpu_smoke.py
    elif scorer.is_file():
        cmd = [sys.executable, str(scorer), str(out), "--corpus", str(args.corpus), "--json", str(out / "scores.json")]
        if args.only:
            cmd += ["--only", args.only]
        subprocess.run(cmd, check=False)
    else:
        print(f"no scorer at {scorer}; predictions are in {out}")
    rate = pages / total if total else 0.0
    if args.json:
        args.json.write_text(json.dumps({"pages": pages, "failed": failed, "seconds": round(total, 3),
                                         "pages_per_second": round(rate, 4), "mode": "bare" if args.bare else "docwatch",
                                         "pipeline_version": args.pipeline_version}))  # fmt: skip
    print(f"\nPaddleOCR-VL {args.pipeline_version} on {args.device}"
          f"{' via ' + args.vl_server_url if args.vl_server_url else ''}: "
          f"{pages} pages ({failed} failed) in {total:.1f}s = {rate:.2f} pages/s; predictions in {out}")  # fmt: skip
    if args.out is None:
        print(f"(temporary directory; remove with: rm -rf {shlex_quote(out)})")
    return 1 if args.strict and failed else 0


DOCUMENT_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def list_cases(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(name, file) to convert: every document in --inputs, else the corpus' cases' input files."""
    if args.inputs is not None:
        files = sorted(p for p in args.inputs.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES) if args.inputs.is_dir() else []
        cases = [(p.name, p) for p in files]
    elif args.corpus.is_dir():
        cases = [(c.name, src) for c in sorted(p for p in args.corpus.iterdir() if p.is_dir())
                 if (src := next(iter(sorted(c.glob("input.*"))), None)) is not None]  # fmt: skip
    else:
        cases = []
    return [(n, p) for n, p in cases if not args.only or args.only in n]


def shlex_quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


if __name__ == "__main__":
    sys.exit(main())
