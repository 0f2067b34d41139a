"""A tiny generated page for engine warm-up (no files shipped, no network)."""

from __future__ import annotations

import pymupdf


def warm_up_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=200)
    page.insert_text((40, 80), "docwatch warm-up page", fontsize=18)
    page.insert_text((40, 120), "Lorem ipsum 12345", fontsize=12)
    data = doc.tobytes()
    doc.close()
    return data
