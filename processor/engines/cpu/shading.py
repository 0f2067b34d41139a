"""Shaded bands on page images: table rows on grey or black backgrounds, light text on dark.

Tesseract reads dark letters on a light page; on a dark band it reads nothing, and a stack
of alternating bands often makes it take the whole stack for a picture. Each band (a run of
rows whose background, the row's median, is clearly darker than the page's) is cut out,
inverted when its background is dark, stretched so its background is white, and all bands
are read in one Tesseract call (stacked with white gaps). Their words replace what the page
pass read there. Only bands that stack up into a banded table are read this way; the stack
is offered to the table finder as one region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from processor.engines.cpu.layout import Rect
from processor.engines.cpu.ocr import OcrWord, fix_scripts, run_tesseract
from processor.engines.cpu.raster import stack


@dataclass
class Band:
    y0: int
    y1: int
    x0: int
    x1: int
    background: float


def find_bands(gray: np.ndarray, glyph_px: float) -> list[Band]:
    """Shaded horizontal bands at least a letter high, with their horizontal extent."""
    rowmed = np.median(gray, axis=1)
    page_bg = float(np.percentile(rowmed, 90))
    shaded = rowmed < page_bg - 30
    bands: list[Band] = []
    y = 0
    h = len(rowmed)
    while y < h:
        if not shaded[y]:
            y += 1
            continue
        start, level = y, rowmed[y]
        while y < h and shaded[y] and abs(rowmed[y] - level) < 40:
            y += 1
        if y - start >= max(8, 0.8 * glyph_px):
            cols = np.nonzero(np.median(gray[start:y], axis=0) < page_bg - 30)[0]
            if cols.size:
                bands.append(Band(start, y, int(cols[0]), int(cols[-1]) + 1, float(np.median(gray[start:y]))))
        y = max(y, start + 1)
    return bands


def read_bands(gray: np.ndarray, bands: list[Band], to_page: float, languages: str) -> list[OcrWord]:
    """The words on the bands, boxes in page units (one Tesseract call)."""
    gap = 24
    crops = []
    for b in bands:
        crop = gray[b.y0:b.y1, b.x0:b.x1].astype(np.float32)
        if b.background < 128:
            crop = 255 - crop
        bg = float(np.median(crop))
        ink = float(crop.min())
        crop = np.clip((crop - ink) / max(1.0, bg - ink) * 255, 0, 255).astype(np.uint8)
        crops.append((crop, b))
    mosaic, placed = stack(crops, gap)
    words = run_tesseract(mosaic, 1.0, languages, psm=6)
    fix_scripts(words)
    out: list[OcrWord] = []
    for w in words:
        cy = (w.bbox[1] + w.bbox[3]) / 2
        for s0, s1, b in placed:
            if s0 <= cy < s1:
                dx, dy = b.x0 - gap, b.y0 - s0
                x0, y0, x1, y1 = w.bbox
                w.bbox = ((x0 + dx) * to_page, (y0 + dy) * to_page, (x1 + dx) * to_page, (y1 + dy) * to_page)
                w.block = 10_000 + s0  # one Tesseract "block" per band: lines never join across
                out.append(w)
                break
    return out


def banded_tables(bands: list[Band], glyph_px: float) -> list[list[Band]]:
    """Runs of three or more bands right under one another with the same left and right
    edges: the rows of a banded table. Lone bands (a heading bar, a shaded note, a scan's
    grey strip across both columns) are left to the page pass."""
    groups: list[list[Band]] = []
    run: list[Band] = []
    for b in [*bands, None]:
        if b is not None and run:
            last, width = run[-1], run[0].x1 - run[0].x0
            aligned = abs(b.x0 - run[0].x0) < 0.03 * width and abs(b.x1 - run[0].x1) < 0.03 * width
            if aligned and b.y0 - last.y1 <= glyph_px:
                run.append(b)
                continue
        if len(run) >= 3:
            groups.append(run)
        run = [b] if b is not None else []
    return groups


def group_rect(group: list[Band], to_page: float) -> Rect:
    x0, x1 = min(b.x0 for b in group), max(b.x1 for b in group)
    return (x0 * to_page, group[0].y0 * to_page, x1 * to_page, group[-1].y1 * to_page)
