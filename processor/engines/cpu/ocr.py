"""Page images: rendering, the cheap blank-page test, and Tesseract OCR to ``TextBlock``s."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pymupdf

from processor.engines.cpu import tesseract_api
from processor.engines.cpu.layout import Line, TextBlock, union
from processor.engines.cpu.raster import encode_pgm

# Tesseract is most accurate with body text around 25-35 px high; low-resolution page images
# are scaled up towards this many pixels on their long side before OCR.
_TARGET_LONG_SIDE = 3000
_BLANK_DPI = 24


@dataclass
class PageImage:
    """A grayscale page raster plus how to map its pixels back to page coordinates."""

    pixmap: pymupdf.Pixmap
    to_page: float  # page units per pixel
    dpi: int = 300  # what Tesseract is told: its size heuristics (what is a letter, a speck) use it

    @property
    def gray(self) -> np.ndarray:
        pm = self.pixmap
        return np.frombuffer(pm.samples, dtype=np.uint8).reshape(pm.height, pm.width)


def native_pixel_size(page: pymupdf.Page) -> tuple[int, int] | None:
    """For a page that is a single image (a PNG/JPEG/TIFF source), the image's own size."""
    infos = page.get_image_info()
    if len(infos) == 1:
        return int(infos[0]["width"]), int(infos[0]["height"])
    return None


def render(page: pymupdf.Page, dpi: int, is_image: bool) -> PageImage:
    """Render for OCR. A page image is used at its own resolution (upscaled when small);
    a PDF page at ``dpi``. Image pages are measured in pixels, PDF pages in points."""
    if is_image:
        size = native_pixel_size(page) or (int(page.rect.width), int(page.rect.height))
        scale = max(1.0, min(4.0, _TARGET_LONG_SIDE / max(size)))
        if scale < 1.2:
            scale = 1.0
        zoom = size[0] * scale / page.rect.width
        pm = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False)
        # scaled to about an A4 page at 300 DPI, whatever the image's own resolution was
        return PageImage(pm, to_page=1.0 / scale, dpi=300)
    pm = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    return PageImage(pm, to_page=72.0 / dpi, dpi=dpi)


def is_blank(page: pymupdf.Page) -> bool:
    """A very low resolution render with (almost) no ink. Cheap enough for 1,000-page PDFs of
    empty pages; a scan's noise is grey-level jitter, not ink, so it is not mistaken for text."""
    pm = page.get_pixmap(dpi=_BLANK_DPI, colorspace=pymupdf.csGRAY, alpha=False)
    gray = np.frombuffer(pm.samples, dtype=np.uint8).reshape(pm.height, pm.width).astype(np.int16)
    if gray.std() < 1.0:
        return True
    background = int(np.median(gray))
    ink = np.count_nonzero(gray < background - 50)
    return ink / gray.size < 0.0005


@lru_cache(maxsize=1)
def tesseract_version() -> str:
    try:
        out = subprocess.run(["tesseract", "--version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    first = (out.stdout or out.stderr).decode("utf-8", "replace").splitlines()
    return first[0].split()[-1] if first else "unknown"


@dataclass
class OcrWord:
    text: str
    bbox: tuple[float, float, float, float]
    conf: float
    block: int
    par: int
    line: int


def run_tesseract(
    gray: np.ndarray,
    to_page: float,
    languages: str,
    psm: int = 3,
    offset: tuple[int, int] = (0, 0),
    timeout: float = 300,
    dpi: int = 300,
    cli: bool = False,
) -> list[OcrWord]:
    """Words with boxes (page units) from Tesseract's TSV; one thread, since pages run in parallel.
    Through libtesseract, kept loaded in this process (``tesseract_api``), or the ``tesseract``
    binary where the library cannot be loaded (or ``cli``): the same words either way.

    Binarisation is Sauvola's (adaptive, ``thresholding_method=2``): the default global Otsu
    threshold turns light grey text white when the page also has black text."""
    if cli or not tesseract_api.available():
        tsv = _tesseract_cli(gray, languages, psm, timeout, dpi)
    else:
        tsv = tesseract_api.read_tsv(gray, languages, psm, dpi, timeout)
    return _parse_tsv(tsv, to_page, offset)


def _tesseract_cli(gray: np.ndarray, languages: str, psm: int, timeout: float, dpi: int) -> str:
    image = encode_pgm(gray)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    cmd = ["tesseract", "stdin", "stdout", "-l", languages, "--psm", str(psm), "--dpi", str(dpi),
           "-c", "thresholding_method=2", "tsv"]
    out = subprocess.run(cmd, input=image, capture_output=True, env=env, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"tesseract failed: {out.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return out.stdout.decode("utf-8", "replace")


def _parse_tsv(tsv: str, to_page: float, offset: tuple[int, int]) -> list[OcrWord]:
    """Word rows (level 5) of Tesseract's TSV; the binary's header line is not one."""
    words: list[OcrWord] = []
    reader = csv.reader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    k = to_page
    for row in reader:
        if len(row) < 12 or row[0] != "5" or not row[11].strip():
            continue
        x, y, w, h = (int(v) for v in row[6:10])
        x, y = x + offset[0], y + offset[1]
        words.append(
            OcrWord(
                text=row[11].strip(),
                bbox=(x * k, y * k, (x + w) * k, (y + h) * k),
                conf=float(row[10]),
                block=int(row[2]),
                par=int(row[3]),
                line=int(row[4]),
            )
        )
    return words


# Letters that look the same in Latin and Cyrillic; Tesseract with rus+eng picks either.
_CYR_TO_LAT = str.maketrans("АВСЕНКМОРТХаеорсухіј", "ABCEHKMOPTXaeopcyxij")
_LAT_TO_CYR = str.maketrans("ABCEHKMOPTXaeopcyx", "АВСЕНКМОРТХаеорсух")
# Bullets Tesseract reads as punctuation at the start of a line.
_OCR_BULLETS = frozenset({".", "·", "«", "»", "©", "°", "*", "•", "■", "e", "¢"})


def _script(ch: str) -> str:
    if "\u0400" <= ch <= "\u04ff":
        return "cyr"
    if ch.isascii() and ch.isalpha():
        return "lat"
    return ""


def fix_scripts(words: list[OcrWord]) -> None:
    """Undo Latin/Cyrillic look-alike mix-ups: a word mixing both scripts is written in its
    majority script; a word made only of look-alikes takes the script of its line (of the
    page, on an all-Latin page): "А scanned" -> "A scanned", "РАН" -> "PAH"."""
    page = _letter_counts(words)
    latin_page = page["cyr"] < 0.1 * max(1, page["lat"])
    lines: dict[tuple[int, int, int], list[OcrWord]] = {}
    for w in words:
        lines.setdefault((w.block, w.par, w.line), []).append(w)
    for line in lines.values():
        counts = _letter_counts(line)
        for w in line:
            scripts = [_script(ch) for ch in w.text]
            n_cyr, n_lat = scripts.count("cyr"), scripts.count("lat")
            # the line's majority without this word: a one-word line follows the page
            other_cyr, other_lat = counts["cyr"] - n_cyr, counts["lat"] - n_lat
            latin_context = latin_page or other_lat > 2 * other_cyr
            cyrillic_context = not latin_page and other_cyr > 2 * other_lat
            if n_cyr and n_lat:
                cyr = n_cyr > n_lat or (n_cyr == n_lat and not latin_context)
                w.text = w.text.translate(_LAT_TO_CYR if cyr else _CYR_TO_LAT)
            elif n_cyr and latin_context:
                w.text = _if_all_converted(w.text, _CYR_TO_LAT, "cyr")
            elif n_lat and cyrillic_context:
                w.text = _if_all_converted(w.text, _LAT_TO_CYR, "lat")
        _lower_short_capitals(line)


# Lowercase Cyrillic letters that stay between baseline and x-height (no ascender, no descender).
_X_HEIGHT_CYR = frozenset("авгеёжиклмнопстхчшъыьэюя") - {"ё"}
# Word endings that reach below the baseline without being letters.
_DESCENDING_PUNCT = frozenset(",;")
_LOOKALIKE_LAT = frozenset("ABCEHKMOPTXaeopcyx")


def _lower_short_capitals(line: list[OcrWord]) -> None:
    """A Cyrillic word with capitals that is no taller than the line's lowercase x-height
    words has no capitals: Tesseract reads the lowercase н т в к м п, which are drawn like
    small capitals, as "H", "T", ... ("на" -> "Ha" -> "На", "от" -> "ОТ"). True capitals stand
    at least a third above the x-height in any text face; a comma's descent is allowed for."""
    refs = [w.bbox[3] - w.bbox[1] for w in line if w.text.isalpha() and set(w.text) <= _X_HEIGHT_CYR]
    if not refs:
        return
    x_height = sorted(refs)[len(refs) // 2]
    for w in line:
        # a Latin word of look-alikes cannot be Latin either: its capitals would be tall too
        # (it stayed Latin where URLs or commands made the line's script unclear)
        text = w.text if not all(ch in _LOOKALIKE_LAT for ch in w.text if ch.isalpha()) else w.text.translate(_LAT_TO_CYR)
        letters = [ch for ch in text if ch.isalpha()]
        if not letters or not all(_script(ch) == "cyr" for ch in letters):
            continue
        if not any(ch.isupper() for ch in letters) or not set("".join(letters).lower()) <= _X_HEIGHT_CYR:
            continue
        height = w.bbox[3] - w.bbox[1]
        if text[-1] in _DESCENDING_PUNCT:
            height -= 0.25 * x_height
        if height <= 1.15 * x_height:
            w.text = text.lower()


def _letter_counts(words: list[OcrWord]) -> dict[str, int]:
    counts = {"cyr": 0, "lat": 0}
    for w in words:
        for ch in w.text:
            sc = _script(ch)
            if sc:
                counts[sc] += 1
    return counts


def _if_all_converted(text: str, table: dict[int, str], script: str) -> str:
    fixed = text.translate(table)
    return text if any(_script(ch) == script for ch in fixed) else fixed


def mean_confidence(words: list[OcrWord]) -> float:
    confs = [w.conf for w in words if w.conf >= 0]
    return sum(confs) / len(confs) if confs else 0.0


def upright(
    gray: np.ndarray, words: list[OcrWord], to_page: float, languages: str, dpi: int = 300
) -> tuple[np.ndarray, list[OcrWord], int]:
    """A page scanned sideways or upside down reads as low-confidence garbage (upright text
    averages 85-95). Only then ask Tesseract's orientation detector, turn the image, and keep
    the new reading if it is clearly better. Returns the image, its words and the clockwise
    turn applied (0, 90, 180, 270); word boxes are in the turned frame."""
    if mean_confidence(words) >= 65:
        return gray, words, 0
    out = subprocess.run(
        ["tesseract", "stdin", "stdout", "--psm", "0"], input=encode_pgm(gray), capture_output=True,
        env=dict(os.environ, OMP_THREAD_LIMIT="1"), timeout=120, check=False,
    )
    info = dict(
        line.split(":", 1) for line in out.stdout.decode("utf-8", "replace").splitlines() if ":" in line
    )
    try:
        turn = int(info.get("Rotate", "0").strip()) % 360
    except ValueError:
        return gray, words, 0
    if turn not in (90, 180, 270):
        return gray, words, 0
    turned = np.ascontiguousarray(np.rot90(gray, {90: -1, 180: 2, 270: 1}[turn]))
    again = run_tesseract(turned, to_page, languages, dpi=dpi)
    if mean_confidence(again) > mean_confidence(words) + 10:
        return turned, again, turn
    return gray, words, 0


def unturn_box(box: tuple[float, float, float, float], turn: int, width: float, height: float):
    """A box from the frame turned clockwise by ``turn`` (of size ``width`` x ``height``) back
    into the original page frame."""
    x0, y0, x1, y1 = box
    if turn == 90:  # original (x, y) went to (H - y, x); turned width is the original height
        return (y0, width - x1, y1, width - x0)
    if turn == 270:  # original (x, y) went to (y, W - x)
        return (height - y1, x0, height - y0, x1)
    if turn == 180:
        return (width - x1, height - y1, width - x0, height - y0)
    return box


# Tesseract reads URLs with spaces after ":", "//" and dots ("https: //www. debian. org").
_URL_FIXES = [
    (re.compile(r"\b(https?|ftp)\s*:\s*/\s*/\s*", re.IGNORECASE), r"\1://"),
    (re.compile(r"\bwww\.\s+(?=\w)", re.IGNORECASE), "www."),
    (re.compile(r"(?<=\w)\.\s+(?=(com|org|net|ru|de|fr|io|gov|edu|info|uk)\b)"), "."),
]


def fix_urls(text: str) -> str:
    for pattern, repl in _URL_FIXES:
        text = pattern.sub(repl, text)
    return text


def words_to_blocks(words: list[OcrWord], pictures: list[tuple[float, float, float, float]] = ()) -> list[TextBlock]:
    """Tesseract's paragraphs become blocks, cut where the line height jumps (a heading
    set in a bigger size is often glued to the paragraph below it). ``pictures`` (regions
    the layout model labels figures) are where picture texture is read as symbol soup."""
    lines: dict[tuple[int, int, int], list[OcrWord]] = {}
    for w in words:
        if w.conf < 0 and not w.text.strip():
            continue
        lines.setdefault((w.block, w.par, w.line), []).append(w)
    paragraphs: dict[tuple[int, int], list[Line]] = {}
    for (b, p, _), ws in lines.items():
        if len(ws) > 1 and ws[0].text in _OCR_BULLETS:
            ws[0].text = "•"
        text = fix_urls(" ".join(w.text for w in ws))
        box = union([w.bbox for w in ws])
        if _is_noise(ws, any(_inside(box, p) for p in pictures)):
            continue
        heights = sorted(w.bbox[3] - w.bbox[1] for w in ws)
        size = heights[len(heights) // 2]
        paragraphs.setdefault((b, p), []).append(Line(text=text, bbox=union([w.bbox for w in ws]), size=size,
                                                      conf=mean_confidence(ws) / 100, words=word_boxes(ws)))
    blocks: list[TextBlock] = []
    for lns in paragraphs.values():
        group: list[Line] = []
        for ln in lns:
            if group and (ln.size > group[-1].size * 1.35 or group[-1].size > ln.size * 1.35):
                blocks.append(TextBlock(lines=group, bbox=union([x.bbox for x in group])))
                group = []
            group.append(ln)
        if group:
            blocks.append(TextBlock(lines=group, bbox=union([x.bbox for x in group])))
    return blocks


def word_boxes(words: list[OcrWord], dx: float = 0.0, dy: float = 0.0, k: float = 1.0) -> list:
    """(text, box, confidence 0..1 or None) of Tesseract's words, boxes moved by (dx, dy) and scaled by k."""
    return [(w.text, ((w.bbox[0] + dx) * k, (w.bbox[1] + dy) * k, (w.bbox[2] + dx) * k, (w.bbox[3] + dy) * k),
             w.conf / 100 if w.conf >= 0 else None) for w in words]


def _inside(box, region) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def _is_noise(words: list[OcrWord], in_picture: bool) -> bool:
    """Specks, rules and picture texture read as text: no letters; or low confidence and
    a few characters; or, inside a picture, low confidence and mostly symbols. Outside
    pictures a low-confidence line with letters is kept: it is hard-to-read text (code,
    a faint scan), and losing it costs more than a stray line."""
    text = "".join(w.text for w in words)
    letters = sum(ch.isalnum() for ch in text)
    mean_conf = sum(w.conf for w in words) / len(words)
    if letters == 0:
        return True
    if mean_conf >= 40:
        return False
    return letters < 4 or (in_picture and letters / max(1, len(text)) < 0.5)
