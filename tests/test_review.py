"""`docwatch review` in a real headless browser (Debian's chromium, driven by Playwright): every
page's picture with one box per block, beside its Markdown; nothing fetched, no console errors."""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest
from playwright.sync_api import sync_playwright

from processor.document import Document, Page
from processor.render.review import markdown_by_page, render_review
from tests.docs import make_figure_pdf, make_structured_pdf, make_text_pdf
from tests.test_cli import docwatch

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def two_page_pdf(tmp: Path) -> Path:
    """Page 1: title, text, a list and a ruled table (make_structured_pdf's first page);
    page 2: text around an embedded picture (make_figure_pdf)."""
    make_structured_pdf(tmp / "structured.pdf")
    make_figure_pdf(tmp / "figure.pdf")
    with pymupdf.open(tmp / "structured.pdf") as doc, pymupdf.open(tmp / "figure.pdf") as fig:
        doc.delete_page(1)
        doc.insert_pdf(fig)
        doc.save(tmp / "report.pdf")
    return tmp / "report.pdf"


def open_in_chromium(tmp: Path, page_path: Path, screenshot: Path) -> dict:
    """Load the page from file://, count what is drawn, and screenshot it."""
    console, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            ignore_default_args=["--headless=new", "--headless=old"], viewport={"width": 1400, "height": 900},
        )
        try:
            tab = browser.new_page()
            tab.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            tab.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(page_path.as_uri(), wait_until="load")
            found = tab.evaluate("""() => [...document.querySelectorAll('section.page')].map(s => ({
                page: +s.dataset.page,
                images: [...s.querySelectorAll('img.page-image')].map(i => i.complete && i.naturalWidth > 0),
                boxes: s.querySelectorAll('svg rect.block').length,
                numbers: [...s.querySelectorAll('svg text')].map(t => +t.textContent),
                furniture: s.querySelectorAll('svg rect.furniture').length,
                markdown: s.querySelector('.md').innerText,
                tables: s.querySelectorAll('.md table').length,
                figures: [...s.querySelectorAll('.md img')].map(i => i.complete && i.naturalWidth > 0),
                sheet: s.querySelector('.sheet').getBoundingClientRect().toJSON(),
                overlay: s.querySelector('.sheet > svg:last-child').getBoundingClientRect().toJSON(),
            }))""")
            tab.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"console": console, "requests": requests, "pages": found}


def test_review_page_in_a_browser(tmp_path: Path) -> None:
    pdf = two_page_pdf(tmp_path)
    conv = docwatch("convert", str(pdf), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert conv.returncode == 0, conv.stderr
    result = tmp_path / "out"  # convert -o DIR writes DIR/report.md, report.json, images/
    r = docwatch("review", str(result), "--input", str(pdf), "-o", str(tmp_path / "review.html"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "review.html") and r.stderr == ""

    doc = json.loads((result / "report.json").read_text())
    seen = open_in_chromium(tmp_path, tmp_path / "review.html", tmp_path / "review.png")
    assert seen["console"] == []
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    assert [p["page"] for p in seen["pages"]] == [1, 2]
    for shown, page in zip(seen["pages"], doc["pages"], strict=True):
        assert shown["images"] == [True]  # one picture per page, loaded
        assert shown["boxes"] == len(page["blocks"]) > 0
        body = [b for b in page["blocks"] if b["order"] is not None]
        assert sorted(shown["numbers"]) == list(range(1, len(body) + 1))
        assert shown["furniture"] == len(page["blocks"]) - len(body)
        assert shown["overlay"] == shown["sheet"]  # the boxes lie over the whole picture
    one, two = seen["pages"]
    assert {b["type"] for b in doc["pages"][0]["blocks"]} >= {"title", "table"}
    assert one["tables"] == 1 and "Таблица форматов" in one["markdown"] and "Документ с текстом" in one["markdown"]
    assert any(b["type"] == "figure" for b in doc["pages"][1]["blocks"])
    assert two["figures"] == [True]  # the figure crop, inlined from images/
    assert (tmp_path / "review.png").stat().st_size > 20_000
    html = (tmp_path / "review.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_review_marks_failed_pages_and_works_without_the_input(tmp_path: Path) -> None:
    pdf = two_page_pdf(tmp_path)
    assert docwatch("convert", str(pdf), "-o", str(tmp_path / "out"), cwd=tmp_path).returncode == 0
    result = tmp_path / "out"  # convert -o DIR writes DIR/report.md, report.json, images/
    doc = Document.model_validate_json((result / "report.json").read_text())
    # as the daemon would call it: a page failed, no picture of page 2, text from the document
    doc.pages[1] = Page.model_validate(doc.pages[1].model_dump() | {
        "status": "failed", "blocks": [], "error": {"type": "PageTimeout", "message": "took <too> long"}})
    page = render_review(doc, [b"\x89PNG-not-read", None], markdown_by_page(doc))
    assert 'class="page failed"' in page and page.count("PageTimeout: took &lt;too&gt; long") == 2  # beside, too
    assert page.count('class="placeholder"') == 1 and page.count('class="page-image"') == 1
    # no --input and no manifest: placeholders, said on stderr; a wrong input is refused
    r = docwatch("review", str(result), cwd=tmp_path)
    assert r.returncode == 0 and "no input" in r.stderr and (result / "review.html").is_file()
    assert (result / "review.html").read_text().count('class="placeholder"') == 2
    wrong = tmp_path / "structured.pdf"
    r = docwatch("review", str(result), "--input", str(wrong), cwd=tmp_path)
    assert r.returncode == 2 and "sha256 differs" in r.stderr


def test_review_of_a_daemon_result_draws_from_the_manifests_input(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pdf = two_page_pdf(tmp_path / "in")
    for name in ("structured.pdf", "figure.pdf"):
        (tmp_path / "in" / name).unlink()
    (tmp_path / "in" / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    run = docwatch("run", "--input", "in", "--output", "out", "--once", "--health-port", "0", cwd=tmp_path)
    assert run.returncode == 4, run.stdout + run.stderr  # finished, one document failed
    r = docwatch("review", "out/report.pdf", cwd=tmp_path)  # the input: the manifest's source
    assert r.returncode == 0 and r.stderr == "", r.stderr
    page = (tmp_path / "out" / "report.pdf" / "review.html").read_text()
    assert page.count('class="page-image"') == 2 and 'class="placeholder"' not in page
    pdf.write_bytes(pdf.read_bytes() + b"\n% changed since\n")  # no longer the bytes converted
    r = docwatch("review", "out/report.pdf", "-o", "again.html", cwd=tmp_path)
    assert r.returncode == 0 and "changed since it was converted" in r.stderr
    assert (tmp_path / "again.html").read_text().count('class="placeholder"') == 2
    r = docwatch("review", "out/broken.pdf", cwd=tmp_path)  # failed whole: nothing to look at
    assert r.returncode == 2 and "broken.pdf failed (CorruptInput" in r.stderr


def test_the_daemon_writes_the_review_page_with_each_document_when_asked(tmp_path: Path) -> None:
    from tests.test_daemon_stages import InProcessEngine, daemon
    from watcher.status import manifests
    from watcher.storage import LocalStorage

    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", ["Reviewed page one.", "Reviewed page two."])
    sink = LocalStorage(tmp_path / "out", create=True)
    d = daemon(tmp_path, sink, InProcessEngine(), document={"review": True})
    assert d.process(d.source.head("a.pdf"))
    [(_, m, _)] = list(manifests(sink))
    assert "a.pdf/review.html" in {o.key for o in m.outputs}
    page = (tmp_path / "out/a.pdf/review.html").read_text()
    assert page.count("data:image/png;base64,") >= 2 and "<!-- docwatch fence 1 -->" in page
    (tmp_path / "in" / "b.pdf").write_bytes((tmp_path / "in" / "a.pdf").read_bytes())
    plain = daemon(tmp_path, sink, InProcessEngine())
    assert plain.process(plain.source.head("b.pdf")) and not (tmp_path / "out/b.pdf/review.html").exists()
