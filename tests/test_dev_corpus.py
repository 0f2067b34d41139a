"""The CPU engine's promise over every page of the development corpus, measured from outside:
the result holds at least ``MIN_PAGE_RECALL`` of the words of a plain read of the same page (of
``MIN_WORDS`` or more words) —
``page.get_text()`` where the engine used the text layer, plain Tesseract (its own page
segmentation, 300 DPI) where it read the page by OCR.

The corpus is not part of the repository:

    .venv/bin/python -m pytest tests/test_dev_corpus.py --dev-corpus ../shared/bench/corpus

Without ``--dev-corpus`` these tests are deselected (tests/conftest.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pymupdf
import pytest

from processor import ConvertOptions, convert
from processor.document import PageMethod
from processor.engines.cpu.plain_read import MIN_PAGE_RECALL, agreement, tokens
from processor.text_layer import TEXT_FLAGS

pytestmark = pytest.mark.dev_corpus
# A recall over fewer words measures nothing: a handwritten sheet, where plain Tesseract reads 8
# noise "words" and the engine 10 others, or a slide of four labels.
MIN_WORDS = 20


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest) -> Path:
    path = Path(request.config.getoption("--dev-corpus")).resolve()
    assert (path.is_dir() and any(path.glob("*/meta.json"))), f"no corpus cases in {path}"
    return path


def _plain_tesseract(page: pymupdf.Page, work: Path) -> list[str]:
    png = work / f"page{page.number}.png"
    page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY).save(png)
    out = subprocess.run(["tesseract", str(png), "stdout", "-l", "rus+eng"], capture_output=True, check=True)
    return tokens(out.stdout.decode())


def test_every_page_keeps_its_plain_reads_words(corpus: Path, tmp_path: Path) -> None:
    options = ConvertOptions()
    short: list[str] = []
    pages = 0
    for case in sorted(p.parent for p in corpus.glob("*/meta.json")):
        source = next(iter(sorted(case.glob("input.*"))))
        doc = convert(source, options)
        with pymupdf.open(source) as pdf:
            for page in doc.pages:
                if page.method not in (PageMethod.TEXT_LAYER, PageMethod.OCR):
                    continue
                pages += 1
                shown = pdf[page.number - 1]
                plain = (tokens(shown.get_text("text", flags=TEXT_FLAGS)) if page.method is PageMethod.TEXT_LAYER
                         else _plain_tesseract(shown, tmp_path))
                result = [t for b in page.blocks for t in tokens(b.text or b.html or "")]
                recall = agreement(plain, result).recall
                if recall < MIN_PAGE_RECALL and len(plain) >= MIN_WORDS:
                    short.append(f"{case.name} p{page.number} ({page.method.value}): {recall:.3f}")
    assert pages > 0
    assert not short, short
