"""Generated pages that are hard in one known way each: a font with a broken Unicode map,
code listings, labelled diagrams, low-contrast text, mixed scripts, frames around text.

Like ``tests.docs``, every ``make_*`` writes a real file and returns a ``GeneratedDoc`` with
the text a reader sees on the page.
"""

from __future__ import annotations

from pathlib import Path

import pymupdf

from tests.docs import EN_PARAGRAPHS, RU_PARAGRAPHS, GeneratedDoc, _flow, _Writer

__all__ = ["make_broken_font_pdf"]


def make_broken_font_pdf(path: Path, broken: tuple[str, ...] = ("Bold",)) -> GeneratedDoc:
    """Three paragraphs, the middle one in bold; the /ToUnicode map of every font whose name
    contains one of ``broken`` is removed, so its text layer reads as glyph ids (as a real
    PDF whose fonts lost their Unicode maps does) while the page looks the same."""
    doc = pymupdf.open()
    w = _Writer(doc)
    paras = [RU_PARAGRAPHS[0], RU_PARAGRAPHS[1], EN_PARAGRAPHS[1]]
    y = _flow(w, 72, paras[0])
    y = _flow(w, y, paras[1], bold=True)
    _flow(w, y, paras[2])
    for xref, *_, basefont, _name, _enc, _ref in w.page.get_fonts(full=True):
        if any(b in basefont for b in broken):
            doc.xref_set_key(xref, "ToUnicode", "null")
    doc.save(path)
    doc.close()
    text = "\n\n".join(paras)
    return GeneratedDoc(path=Path(path), text=text, pages=[text])
