"""Tesseract through its C API (``libtesseract``, the library the ``tesseract`` binary is built
on), kept loaded in the worker process.

Why not the binary: every ``tesseract`` run loads the ``rus+eng`` models again (0.1-0.16 s of
CPU per call, a page makes one to four calls) and the page has to be encoded, piped in and its
TSV piped back. Here a worker loads them once per language set and hands Tesseract the numpy
buffer itself. The words, boxes and confidences are the binary's, byte for byte (the TSV is the
same renderer; a test compares the two).

One engine per thread and language set (a ``TessBaseAPI`` is not thread-safe; pages of several
documents may run in threads of one process when there is no worker pool). OpenMP is held to one
thread, as ``OMP_THREAD_LIMIT=1`` holds the binary: pages run in parallel, one per core.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

_ENGINES_PER_THREAD = 2  # language sets kept loaded per thread (one in practice)
_local = threading.local()
_all: set[_Engine] = set()  # every thread's engines, freed at exit (Tesseract warns of leaks otherwise)
_all_lock = threading.Lock()


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL | None:
    # libgomp reads OMP_THREAD_LIMIT when it is loaded: set it before libtesseract pulls it in
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures = {
        "TessBaseAPICreate": ([], p),
        "TessBaseAPIDelete": ([p], None),
        "TessBaseAPIInit3": ([p, s, s], i),
        "TessBaseAPISetVariable": ([p, s, s], i),
        "TessBaseAPISetPageSegMode": ([p, i], None),
        "TessBaseAPISetImage": ([p, p, i, i, i, i], None),
        "TessBaseAPISetSourceResolution": ([p, i], None),
        "TessBaseAPIRecognize": ([p, p], i),
        "TessBaseAPIGetTsvText": ([p, i], p),
        "TessBaseAPIClear": ([p], None),
        "TessDeleteText": ([p], None),
        "TessMonitorCreate": ([], p),
        "TessMonitorDelete": ([p], None),
        "TessMonitorSetDeadlineMSecs": ([p, i], None),
    }
    try:
        for fn, (args, res) in signatures.items():
            f = getattr(lib, fn)
            f.argtypes, f.restype = args, res
    except AttributeError:
        return None
    return lib


@lru_cache(maxsize=1)
def _omp_set_num_threads():
    """For a process where libgomp was loaded before us (OMP_THREAD_LIMIT not read then):
    the per-thread setting, called before each recognition."""
    name = ctypes.util.find_library("gomp")
    try:
        f = ctypes.CDLL(name or "libgomp.so.1").omp_set_num_threads
    except (OSError, AttributeError):
        return None
    f.argtypes = [ctypes.c_int]
    return f


def available() -> bool:
    return _lib() is not None


class _Engine:
    """One initialised ``TessBaseAPI`` (models loaded) for one language set."""

    def __init__(self, lib: ctypes.CDLL, languages: str) -> None:
        self.lib = lib
        self.api = lib.TessBaseAPICreate()
        # its notes ("Detected 12 diacritics") would go to this process's stderr; the binary's
        # were captured and dropped
        lib.TessBaseAPISetVariable(self.api, b"debug_file", os.devnull.encode())
        if lib.TessBaseAPIInit3(self.api, None, languages.encode()) != 0:
            lib.TessBaseAPIDelete(self.api)
            raise RuntimeError(f"tesseract could not load the languages {languages!r}")
        # Sauvola's adaptive threshold, as the binary is told with -c (see ocr.run_tesseract)
        lib.TessBaseAPISetVariable(self.api, b"thresholding_method", b"2")
        with _all_lock:
            _all.add(self)

    def close(self) -> None:
        with _all_lock:
            if self not in _all:
                return
            _all.discard(self)
        self.lib.TessBaseAPIDelete(self.api)


@atexit.register
def _close_all() -> None:
    for engine in list(_all):
        engine.close()


def _engine(languages: str) -> _Engine:
    lib = _lib()
    if lib is None:
        raise RuntimeError("libtesseract is not installed")
    engines: OrderedDict[str, _Engine] | None = getattr(_local, "engines", None)
    if engines is None:
        engines = _local.engines = OrderedDict()
    engine = engines.get(languages)
    if engine is None:
        engine = engines[languages] = _Engine(lib, languages)
        while len(engines) > _ENGINES_PER_THREAD:
            engines.popitem(last=False)[1].close()
    engines.move_to_end(languages)
    return engine


def read_tsv(gray: np.ndarray, languages: str, psm: int, dpi: int, timeout: float) -> str:
    """Tesseract's TSV for a grayscale image (no header line, as the API writes it)."""
    engine = _engine(languages)
    lib, api = engine.lib, engine.api
    set_threads = _omp_set_num_threads()
    if set_threads is not None:
        set_threads(1)
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = gray.shape
    lib.TessBaseAPISetPageSegMode(api, psm)
    lib.TessBaseAPISetVariable(api, b"user_defined_dpi", str(dpi).encode())  # as the binary's --dpi
    lib.TessBaseAPISetImage(api, gray.ctypes.data, width, height, 1, width)
    lib.TessBaseAPISetSourceResolution(api, dpi)
    monitor = lib.TessMonitorCreate()
    try:
        lib.TessMonitorSetDeadlineMSecs(monitor, int(timeout * 1000))
        if lib.TessBaseAPIRecognize(api, monitor) != 0:
            raise RuntimeError("tesseract failed to read the image (or ran past its deadline)")
        text = lib.TessBaseAPIGetTsvText(api, 0)
        if not text:
            raise RuntimeError("tesseract returned no TSV")
        try:
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            lib.TessDeleteText(text)
    finally:
        lib.TessMonitorDelete(monitor)
        lib.TessBaseAPIClear(api)
