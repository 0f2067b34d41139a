"""Does the text layer say what the page shows? Asked of OCR on a sample of lines, and only
where the layer is suspect yet passed the character checks of ``trust``.

Suspect are text on a scanned page: drawn invisibly (render mode 3) or lying on a picture that
covers most of the page (the OCR layer some other tool laid over or under the scan, as good as
that tool was), and fonts without a /ToUnicode map whose encoding is
not a standard one (MuPDF then guesses their letters from the font program, which can give
plausible-looking garbage). For each such font a few of its longest lines are rendered,
stacked and read by one Tesseract call; a font whose lines OCR reads as something else
entirely is distrusted on the whole page, and ``regions`` (or whole-page OCR, when it is most
of the page) reads its text from the image. A /ToUnicode map can be wrong too (a
generator that wrote letters for the wrong glyphs): the text then passes every character check.
So on a page with fonts that bring their own map, every font is sampled as well, two lines,
once per document: its
verdict is kept on the open document (the engine's workers keep one per document), so a
document pays for it on the first page where each such font has enough text.
"""

from __future__ import annotations

import difflib

import numpy as np
import pymupdf

from processor.engines.cpu.ocr import fix_scripts, run_tesseract
from processor.engines.cpu.raster import stack
from processor.font_trust import DISTRUSTED, tally_fonts

_STANDARD_ENCODINGS = frozenset({"WinAnsiEncoding", "MacRomanEncoding", "StandardEncoding", "MacExpertEncoding"})
SAMPLE_LINES = 4  # per suspect font: its longest lines
MAPPED_SAMPLE_LINES = 2  # per font with its own /ToUnicode map, not yet judged in this document
MAX_FONTS = 3  # suspect fonts sampled per page, the ones with the most text first
MAX_MAPPED_FONTS = 3  # mapped fonts sampled per page, the ones with the most text first
_VERDICTS = "_docwatch_font_verdicts"  # attribute of the open document: font -> sound (bool)
MIN_FONT_CHARS = 20  # a stray symbol in an odd font is not worth an OCR call
MIN_LINE_CHARS = 8
# Mean similarity (0..1, letters and digits only) under which OCR "disagrees wildly": a sound
# layer read back by OCR scores 0.85-1 (OCR slips), a wrong one 0-0.3.
AGREEMENT = 0.5
_PAD = 2.0  # points round a sampled line


def suspect_fonts(page: pymupdf.Page, data: dict, unmapped: set[str]) -> dict[str, int]:
    """Fonts whose text is suspect but passed the character checks (``unmapped``: the page's
    fonts with no /ToUnicode and a non-standard encoding): visible characters each."""
    scans = _page_images(page)
    trust = tally_fonts(data)
    counts: dict[str, int] = {}
    for raw in data["blocks"]:
        for rl in raw.get("lines", []):
            for sp in rl["spans"]:
                font = sp["font"]
                x0, y0, x1, y1 = sp["bbox"]
                on_scan = any(r.contains(pymupdf.Point((x0 + x1) / 2, (y0 + y1) / 2)) for r in scans)
                if (sp.get("alpha", 255) == 0 or font in unmapped or on_scan) and not trust.font_untrusted(font):
                    counts[font] = counts.get(font, 0) + sum(not ch.isspace() for ch in sp.get("text", ""))
    return {f: n for f, n in counts.items() if n >= MIN_FONT_CHARS}


def _page_images(page: pymupdf.Page) -> list[pymupdf.Rect]:
    """Images covering most of the page (a scan): text over or under one is an OCR layer,
    drawn visibly or hidden beneath the picture."""
    area = page.rect.width * page.rect.height
    rects = [pymupdf.Rect(info["bbox"]) & page.rect for info in page.get_image_info()]
    return [r for r in rects if not r.is_empty and r.width * r.height > 0.5 * area]


def _fonts_by_map(page: pymupdf.Page) -> tuple[set[str], set[str]]:
    """(fonts with no /ToUnicode and a non-standard encoding, fonts with their own /ToUnicode)."""
    doc = page.parent
    out: set[str] = set()
    mapped: set[str] = set()
    for xref, _ext, ftype, basefont, _name, encoding, *_ in page.get_fonts(full=True):
        if xref <= 0:
            continue
        obj = doc.xref_object(xref, compressed=True)
        if "/ToUnicode" in obj and "/ToUnicode null" not in obj:
            mapped.add(basefont.split("+", 1)[-1])
            continue
        custom = ftype in ("Type0", "Type3") or "/Differences" in obj or (encoding and encoding not in _STANDARD_ENCODINGS)
        if custom:
            out.add(basefont.split("+", 1)[-1])
    return out, mapped


def distrust_disagreeing_fonts(page: pymupdf.Page, data: dict, dpi: int, languages: str) -> list[str]:
    """Sample the suspect fonts' lines, and those of mapped fonts this document has not judged
    yet, with OCR; the fonts OCR contradicts are recorded in ``data`` (``trust.DISTRUSTED``)
    and returned."""
    unmapped, mapped_fonts = _fonts_by_map(page)  # one pass over the page's font objects
    suspects = suspect_fonts(page, data, unmapped)
    known = _verdicts(page.parent)
    judged = _font_chars(data) if mapped_fonts else {}
    unjudged = {f: n for f, n in judged.items() if f not in suspects and f not in known}
    known_bad = sorted(f for f, sound in known.items() if not sound and f in _font_names(data))
    fonts = sorted(suspects, key=lambda f: -suspects[f])[:MAX_FONTS]
    mapped = sorted(unjudged, key=lambda f: -unjudged[f])[:MAX_MAPPED_FONTS]
    samples = _sample_lines(data, fonts, SAMPLE_LINES) + _sample_lines(data, mapped, MAPPED_SAMPLE_LINES)
    distrusted = list(known_bad)
    if samples:
        scores = _ocr_scores(page, samples, dpi, languages)
        for font in mapped:
            if font in scores:  # no verdict (OCR read too little): asked again on a later page
                known[font] = sum(scores[font]) / len(scores[font]) >= AGREEMENT
        distrusted += [f for f, s in scores.items() if sum(s) / len(s) < AGREEMENT]
    if distrusted:
        data[DISTRUSTED] = sorted(set(data.get(DISTRUSTED, ())) | set(distrusted))
    return sorted(set(distrusted))


def _ocr_scores(page: pymupdf.Page, samples: list, dpi: int, languages: str) -> dict[str, list[float]]:
    """Each sampled font's similarities between its layer text and OCR's reading of the same lines."""
    k = dpi / 72.0
    crops = []
    for font, text, bbox in samples:
        clip = pymupdf.Rect(bbox) + (-_PAD, -_PAD, _PAD, _PAD)
        pm = page.get_pixmap(dpi=dpi, clip=clip & page.rect, colorspace=pymupdf.csGRAY, alpha=False)
        crops.append((np.frombuffer(pm.samples, dtype=np.uint8).reshape(pm.height, pm.width), (font, text)))
    mosaic, strips = stack(crops, gap=max(20, int(k * 12)))
    words = run_tesseract(mosaic, 1.0, languages, psm=6, dpi=dpi)
    fix_scripts(words)
    scores: dict[str, list[float]] = {}
    for y0, y1, (font, text) in strips:
        read = " ".join(w.text for w in words if y0 <= (w.bbox[1] + w.bbox[3]) / 2 < y1)
        score = similarity(text, read)
        if score is not None:
            scores.setdefault(font, []).append(score)
    return scores


def _verdicts(doc: pymupdf.Document) -> dict[str, bool]:
    verdicts = getattr(doc, _VERDICTS, None)
    if verdicts is None:
        verdicts = {}
        setattr(doc, _VERDICTS, verdicts)
    return verdicts


def _font_names(data: dict) -> set[str]:
    return {sp["font"] for raw in data["blocks"] for rl in raw.get("lines", []) for sp in rl["spans"]}


def _font_chars(data: dict) -> dict[str, int]:
    """The page's trusted fonts with enough visible text to judge: characters each. All of them,
    when any font on the page brings its own /ToUnicode map: which span is in which font object
    is not told by name (MuPDF names a span's font from the font program, the page's font list
    from /BaseFont)."""
    trust = tally_fonts(data)
    counts: dict[str, int] = {}
    for raw in data["blocks"]:
        for rl in raw.get("lines", []):
            for sp in rl["spans"]:
                if not trust.font_untrusted(sp["font"]):
                    counts[sp["font"]] = counts.get(sp["font"], 0) + sum(not ch.isspace() for ch in sp.get("text", ""))
    return {f: n for f, n in counts.items() if n >= MIN_FONT_CHARS}


def similarity(layer: str, ocr: str) -> float | None:
    """How alike two readings of one line are (letters and digits, case folded); None when
    OCR read too little to judge (faint print, a line it could not segment): no verdict."""
    a, b = _letters(layer), _letters(ocr)
    if len(b) < 0.5 * len(a):
        return None
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _sample_lines(data: dict, fonts: list[str], per_font: int) -> list[tuple[str, str, tuple[float, float, float, float]]]:
    """Each font's longest horizontal lines written (mostly) in it: (font, text, bbox)."""
    by_font: dict[str, list[tuple[int, str, tuple]]] = {f: [] for f in fonts}
    for raw in data["blocks"]:
        for rl in raw.get("lines", []):
            if abs(rl["dir"][1]) > 0.1:
                continue
            chars: dict[str, int] = {}
            for sp in rl["spans"]:
                chars[sp["font"]] = chars.get(sp["font"], 0) + len(sp.get("text", "").strip())
            main = max(chars, key=lambda f: chars[f]) if chars else None
            text = "".join(sp.get("text", "") for sp in rl["spans"]).strip()
            if main in by_font and len(_letters(text)) >= MIN_LINE_CHARS:
                by_font[main].append((len(text), text, tuple(rl["bbox"])))
    out = []
    for font, lines in by_font.items():
        for _, text, bbox in sorted(lines, key=lambda t: -t[0])[:per_font]:
            out.append((font, text, bbox))
    return out
