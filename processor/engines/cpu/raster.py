"""Small raster operations on grayscale page images, in numpy (no OpenCV dependency):
PNG encoding, ruling-line runs, typical letter height, erasing rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

INK = 170  # gray level below which a pixel is ink


@dataclass
class PixelSegment:
    """A ruling line in pixels: [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int
    pixels: int = 0


def encode_pgm(gray: np.ndarray) -> bytes:
    """A grayscale image as binary PGM, for Tesseract's stdin: no compression to do on either
    side (a 3000 px page took 0.19 s to encode as PNG even at level 1; this takes 0.01 s)."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    return b"P5\n%d %d\n255\n" % (gray.shape[1], gray.shape[0]) + gray.tobytes()


def _long_runs(ink: np.ndarray, min_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of ink along each row at least ``min_len`` long: (row, start, end) arrays."""
    h, w = ink.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = ink
    d = np.diff(padded, axis=1)
    rows, starts = np.nonzero(d == 1)  # row-major order pairs each start with its end
    _, ends = np.nonzero(d == -1)
    keep = ends - starts >= min_len
    return rows[keep], starts[keep], ends[keep]


def _merge_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, max_thickness: float) -> list[PixelSegment]:
    """Runs on neighbouring rows that overlap are one shape (connected components, run by
    run); only thin shapes are rules, thick ones are filled boxes or dark pictures."""
    segs: list[PixelSegment] = []
    active: list[PixelSegment] = []
    for r, s, e in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
        active = [a for a in active if a.y1 >= r]
        for a in active:
            if s < a.x1 and e > a.x0:
                a.y1 = r + 1
                a.x0, a.x1 = min(a.x0, s), max(a.x1, e)
                a.pixels += e - s
                break
        else:
            seg = PixelSegment(s, r, e, r + 1, e - s)
            segs.append(seg)
            active.append(seg)
    # thickness as ink per unit of length: a rule scanned at a slight tilt spans many rows
    # but stays thin; a filled box is thick everywhere
    return [s for s in segs if s.pixels / max(1, s.x1 - s.x0) <= max_thickness]


def rule_segments(gray: np.ndarray, min_h: int, min_v: int, max_thickness: float) -> tuple[
        list[PixelSegment], list[PixelSegment]]:
    """Horizontal rules (ink runs of at least ``min_h`` px) and vertical ones (``min_v``)."""
    ink = gray < INK
    horizontal = _merge_runs(*_long_runs(ink, min_h), max_thickness)
    vr = _merge_runs(*_long_runs(ink.T, min_v), max_thickness)  # found in the transposed image
    vertical = [PixelSegment(s.y0, s.x0, s.y1, s.x1) for s in vr]
    return horizontal, vertical


def erase(gray: np.ndarray, segments: list[PixelSegment], margin: int = 1) -> np.ndarray:
    out = gray.copy()
    h, w = gray.shape
    for s in segments:
        out[max(0, s.y0 - margin):min(h, s.y1 + margin), max(0, s.x0 - margin):min(w, s.x1 + margin)] = 255
    return out


def glyph_height(gray: np.ndarray) -> float:
    """Typical letter height in pixels, from vertical ink runs (letter stems) in a sample
    of columns; sizes the rule finder and the gaps of the OCR cell mosaic."""
    sample = gray[:, ::3] < INK
    _, starts, ends = _long_runs(sample.T, 4)
    lengths = (ends - starts)[(ends - starts) < gray.shape[0] / 20]
    return float(np.percentile(lengths, 80)) if lengths.size else 20.0


T = TypeVar("T")


def stack(crops: list[tuple[np.ndarray, T]], gap: int) -> tuple[np.ndarray, list[tuple[int, int, T]]]:
    """Crops stacked one under another on white, ``gap`` pixels around each, so one OCR call
    reads them all, each on rows of its own; the mosaic and each item's rows [y0, y1)."""
    width = max(c.shape[1] for c, _ in crops) + 2 * gap
    height = sum(c.shape[0] + gap for c, _ in crops) + gap
    mosaic = np.full((height, width), 255, dtype=np.uint8)
    spans: list[tuple[int, int, T]] = []
    y = gap
    for crop, item in crops:
        mosaic[y:y + crop.shape[0], gap:gap + crop.shape[1]] = crop
        spans.append((y, y + crop.shape[0], item))
        y += crop.shape[0] + gap
    return mosaic, spans
