"""Tesseract through libtesseract (kept loaded in the worker) reads what the binary reads.

Needs tesseract with rus+eng, like tests/test_cpu_engine.py.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from processor.engines.cpu import tesseract_api
from processor.engines.cpu.ocr import run_tesseract
from tests.docs import EN_PARAGRAPHS, RU_PARAGRAPHS, make_scan_png


def _words(words):
    return [(w.text, w.bbox, w.conf, w.block, w.par, w.line) for w in words]


def _page(tmp_path):
    text = "\n\n".join([RU_PARAGRAPHS[0], EN_PARAGRAPHS[0]])
    return np.asarray(Image.open(make_scan_png(tmp_path / "p.png", text=text).path).convert("L"))


def test_library_reads_the_same_words_as_the_binary(tmp_path):
    assert tesseract_api.available()
    gray = _page(tmp_path)
    for psm in (3, 6):
        library = run_tesseract(gray, 0.5, "rus+eng", psm=psm, offset=(7, 3), dpi=200)
        binary = run_tesseract(gray, 0.5, "rus+eng", psm=psm, offset=(7, 3), dpi=200, cli=True)
        assert len(library) > 30
        assert _words(library) == _words(binary)
    # a second page through the engine already loaded: nothing of the first one is left over
    blank = np.full((400, 600), 255, dtype=np.uint8)
    assert run_tesseract(blank, 1.0, "rus+eng") == []


def test_threads_each_get_their_own_engine(tmp_path):
    gray = _page(tmp_path)
    expected = _words(run_tesseract(gray, 1.0, "rus+eng", dpi=200))
    results: list = [None, None]

    def read(i: int) -> None:
        results[i] = _words(run_tesseract(gray, 1.0, "rus+eng", dpi=200))

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected, expected]


def test_a_language_that_is_not_installed_is_a_clear_error():
    import pytest

    with pytest.raises(RuntimeError, match="could not load"):
        run_tesseract(np.full((100, 100), 255, dtype=np.uint8), 1.0, "xxx")
