"""Which Tesseract languages a page needs, from what the document's pages read so far.

Reading with ``rus+eng`` costs Tesseract 5-25 % more than ``eng`` alone on an English page
(each word it is unsure of is tried in both models). A document whose pages so far (text layer
or OCR) show no Cyrillic reads its next OCR pages with its Latin-script languages only; a page
that then reads poorly (low confidence overall, or several lines of garbage: Cyrillic read by
the English model scores 40-55 where print scores 85-95) is read again with every language, so
a Russian page in an English document loses nothing but time. The first pages of a document,
with nothing to go by, are read with every language.
"""

from __future__ import annotations

from dataclasses import dataclass

from processor.document import Page

# Tesseract's Cyrillic-script language packs
_CYRILLIC_PACKS = frozenset({
    "rus", "ukr", "bel", "bul", "srp", "mkd", "kaz", "kir", "tgk", "tat", "mon", "uzb_cyrl", "aze_cyrl", "Cyrillic",
})
# Letters of a document seen before it counts as evidence, and the Cyrillic share under which
# it is Latin-only (English pages read with rus+eng carry a few look-alike slips, < 1 %)
MIN_LETTERS = 300
MAX_CYRILLIC_SHARE = 0.01


def latin_subset(languages: str) -> str | None:
    """``languages`` without its Cyrillic-script packs, or None when there is nothing to drop
    (or nothing would be left)."""
    packs = [p for p in languages.split("+") if p]
    kept = [p for p in packs if p not in _CYRILLIC_PACKS]
    return "+".join(kept) if kept and len(kept) < len(packs) else None


@dataclass
class ScriptTally:
    """Letters by script over the pages of one document that have finished."""

    languages: str  # what the engine is configured to read
    latin: int = 0
    cyrillic: int = 0

    def observe(self, page: Page) -> None:
        for block in page.blocks:
            for ch in block.text or "":
                if "\u0400" <= ch <= "\u04ff":
                    self.cyrillic += 1
                elif ch.isascii() and ch.isalpha():
                    self.latin += 1

    def hint(self) -> str | None:
        """The languages to read the next OCR page with first, or None for all of them."""
        letters = self.latin + self.cyrillic
        if letters < MIN_LETTERS or self.cyrillic > MAX_CYRILLIC_SHARE * letters:
            return None
        return latin_subset(self.languages)


# A page read with the hint is read again with every language when it reads like this.
MIN_MEAN_CONFIDENCE = 75
_LOW_LINE_CONFIDENCE = 60
_LOW_LINES_SHARE = 0.05


def reads_poorly(words) -> bool:
    """Low mean confidence, or at least two lines (and 5 % of them) of three or more words and
    eight letters that read as garbage: what a paragraph in another script gives."""
    confs = [w.conf for w in words if w.conf >= 0]
    if not confs:
        return False  # nothing read either way: a picture, a blank
    if sum(confs) / len(confs) < MIN_MEAN_CONFIDENCE:
        return True
    lines: dict[tuple[int, int, int], list] = {}
    for w in words:
        lines.setdefault((w.block, w.par, w.line), []).append(w)
    low = 0
    for ws in lines.values():
        letters = sum(ch.isalpha() for w in ws for ch in w.text)
        if len(ws) >= 3 and letters >= 8 and sum(w.conf for w in ws) / len(ws) < _LOW_LINE_CONFIDENCE:
            low += 1
    return low >= 2 and low >= _LOW_LINES_SHARE * len(lines)
