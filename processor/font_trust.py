"""Trusting the PDF text layer region by region.

A page's text layer can be sound in one font and garbage in another: a font whose
/ToUnicode map is missing gives glyph ids as code points (Coptic- or NKo-looking letters,
Latin shifted by a constant), a legacy 8-bit Cyrillic font gives Latin-1 mojibake ("Íàáîð"),
a symbolic font gives Private Use Area code points. Each span is judged by its own
characters and by its font's record on the page; a block made mostly of untrusted spans is
read again by OCR, the rest of the page keeps its text layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Letters in these ranges are what glyph ids and 8-bit codes decode to when a font has no
# usable Unicode map; real Latin, Cyrillic and basic Greek text (math) stays outside them.
_GLYPH_ID_RANGES = ((0x03CA, 0x03FF), (0x0500, 0x07FF), (0x2C80, 0x2CFF))
# A span whose letters are this Latin-1/Latin Extended-A heavy is cp1251/koi8 read as Latin-1.
_MOJIBAKE_SHARE = 0.3
# A font is untrusted on the whole page when this share of its characters is suspicious:
# its remaining, plausible-looking characters ("HELDQ" for "debian") are the same garbage.
FONT_UNTRUSTED_SHARE = 0.3
# A block is read again by OCR when this share of its characters is untrusted.
BLOCK_UNTRUSTED_SHARE = 0.2


# One regex pass per span (this runs on every span of every page): bad characters and letters
# in the glyph-id ranges; Latin-1/Latin Extended-A letters; all letters.
_SUSPICIOUS_RE = re.compile(
    "[\ufffd\ue000-\uf8ff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _GLYPH_ID_RANGES) + "]"
)
_LATIN1_RE = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f]")
_LETTER_RE = re.compile(r"[^\W\d_]")


def suspicious_count(text: str) -> int:
    """How many of ``text``'s visible characters look like a broken Unicode map."""
    if text.isascii() and text.isprintable():
        return 0
    bad = len(_SUSPICIOUS_RE.findall(text))
    letters = len(_LETTER_RE.findall(text))
    if letters and len(_LATIN1_RE.findall(text)) / letters > _MOJIBAKE_SHARE:
        return max(bad, sum(not ch.isspace() for ch in text))  # mojibake taints the whole span
    return bad


# Key of a rawdict under which the fonts OCR contradicted are kept (see ``agreement``).
DISTRUSTED = "docwatch_distrusted_fonts"


@dataclass
class SpanTrust:
    """Per-font tallies for one page: visible characters and suspicious ones; ``distrusted``
    fonts are untrusted whatever their characters look like (OCR read something else there)."""

    visible: dict[str, int]
    suspicious: dict[str, int]
    distrusted: frozenset[str] = frozenset()

    def font_untrusted(self, font: str) -> bool:
        if font in self.distrusted:
            return True
        n = self.visible.get(font, 0)
        return n > 0 and self.suspicious.get(font, 0) / n > FONT_UNTRUSTED_SHARE


def tally_fonts(data: dict) -> SpanTrust:
    """Count every span of a rawdict (with ``text`` filled in) by font."""
    visible: dict[str, int] = {}
    suspicious: dict[str, int] = {}
    for raw in data["blocks"]:
        for rl in raw.get("lines", []):
            for sp in rl["spans"]:
                text = sp.get("text", "")
                n = sum(not ch.isspace() for ch in text)
                if n:
                    visible[sp["font"]] = visible.get(sp["font"], 0) + n
                    suspicious[sp["font"]] = suspicious.get(sp["font"], 0) + suspicious_count(text)
    return SpanTrust(visible, suspicious, frozenset(data.get(DISTRUSTED, ())))


def untrusted_chars(spans: list[dict], trust: SpanTrust) -> tuple[int, int]:
    """(untrusted, visible) characters over ``spans``."""
    bad = total = 0
    for sp in spans:
        text = sp.get("text", "")
        n = sum(not ch.isspace() for ch in text)
        total += n
        bad += n if trust.font_untrusted(sp["font"]) else min(n, suspicious_count(text))
    return bad, total


def page_untrusted_share(data: dict, trust: SpanTrust) -> float:
    spans = [sp for raw in data["blocks"] for rl in raw.get("lines", []) for sp in rl["spans"]]
    bad, total = untrusted_chars(spans, trust)
    return bad / total if total else 0.0
