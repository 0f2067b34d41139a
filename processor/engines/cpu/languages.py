"""Which Tesseract languages a page needs, from what the document's pages read so far.

Reading with ``rus+eng`` costs Tesseract 5-25 % more than ``eng`` alone on an English page
(each word it is unsure of is tried in both models). A document whose pages so far (text layer
or OCR) show no Cyrillic reads its next OCR pages with its Latin-script languages only; a page
that then reads poorly (low confidence overall: Cyrillic read by the English model scores
40-55 where print scores 85-95) is read again with every language, and its low-confidence
lines alone otherwise (a Russian line on an English page), so nothing is lost but time. The first pages of a document,
with nothing to go by, are read with every language.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from processor.document import Page
from processor.engines.cpu.ocr import OcrWord, run_tesseract

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


# A page read with the hint is read again with every language when its words average under
# this confidence (a page in another script); lines under the line threshold are read again
# one by one (a paragraph or a line in another script on a page of the hinted one).
MIN_MEAN_CONFIDENCE = 75
LOW_LINE_CONFIDENCE = 60
_LINE_PAD = 4  # pixels round a line's words when it is cut out to be read again
_LINE_MIN_LETTERS = 10  # a line of words, not formula or diagram fragments (read as garbage either way)


def reads_poorly(words) -> bool:
    """The page as a whole reads as garbage (or in another script than the hint's)."""
    confs = [w.conf for w in words if w.conf >= 0]
    return bool(confs) and sum(confs) / len(confs) < MIN_MEAN_CONFIDENCE


def reread_low_lines(gray: np.ndarray, words: list[OcrWord], to_page: float, languages: str) -> list[OcrWord]:
    """``words`` with every line whose letters read at low confidence read again with
    ``languages`` (all lines in one Tesseract call, stacked with white gaps) and replaced when
    the new reading is a confident line of Cyrillic words, the script the hint left out.
    Boxes and line identities stay the page's."""
    lines: dict[tuple[int, int, int], list[OcrWord]] = {}
    for w in words:
        lines.setdefault((w.block, w.par, w.line), []).append(w)
    low = [key for key, ws in lines.items()
           if sum(ch.isalpha() for w in ws for ch in w.text) >= _LINE_MIN_LETTERS and _mean(ws) < LOW_LINE_CONFIDENCE]
    if not low:
        return words
    h, w_ = gray.shape
    crops = []
    for key in low:
        box = [v / to_page for v in _union(lines[key])]
        x0, y0 = max(0, int(box[0]) - _LINE_PAD), max(0, int(box[1]) - _LINE_PAD)
        x1, y1 = min(w_, int(box[2]) + _LINE_PAD + 1), min(h, int(box[3]) + _LINE_PAD + 1)
        crops.append((gray[y0:y1, x0:x1], x0, y0))
    gap = max(20, max(c.shape[0] for c, _, _ in crops))
    mosaic = np.full((sum(c.shape[0] + gap for c, _, _ in crops) + gap,
                      max(c.shape[1] for c, _, _ in crops) + 2 * gap), 255, dtype=np.uint8)
    strips, y = [], gap
    for crop, px, py in crops:
        mosaic[y:y + crop.shape[0], gap:gap + crop.shape[1]] = crop
        strips.append((y, y + crop.shape[0], px - gap, py - y))
        y += crop.shape[0] + gap
    again = run_tesseract(mosaic, 1.0, languages, psm=6)
    for key, (s0, s1, dx, dy) in zip(low, strips, strict=True):
        mine = [w for w in again if s0 <= (w.bbox[1] + w.bbox[3]) / 2 < s1]
        if not mine or not _cyrillic_line(mine) or _mean(mine) < MIN_MEAN_CONFIDENCE:
            continue  # not a line of the dropped script: what was read stays
        lines[key] = [OcrWord(w.text, tuple(v * to_page for v in (w.bbox[0] + dx, w.bbox[1] + dy,
                                                                   w.bbox[2] + dx, w.bbox[3] + dy)),
                              w.conf, *key) for w in mine]
    return [w for ws in lines.values() for w in ws]


def _cyrillic_line(words: list[OcrWord]) -> bool:
    """Mostly Cyrillic letters, and enough of them to be words (formula and diagram garbage
    read again gives a few letters of either script)."""
    letters = [ch for w in words for ch in w.text if ch.isalpha()]
    cyrillic = sum("\u0400" <= ch <= "\u04ff" for ch in letters)
    return cyrillic >= 5 and cyrillic > 0.6 * len(letters)


def _mean(words: list[OcrWord]) -> float:
    return sum(w.conf for w in words) / len(words)


def _union(words: list[OcrWord]) -> tuple[float, float, float, float]:
    return (min(w.bbox[0] for w in words), min(w.bbox[1] for w in words),
            max(w.bbox[2] for w in words), max(w.bbox[3] for w in words))
