"""Figures: embedded pictures and vector drawings on text-layer pages, and the PNG crops of
every figure (on page images the layout model finds them: see ``layout_model``)."""

from __future__ import annotations

import pymupdf

from processor.document import Asset, BlockType
from processor.engines.cpu.layout import FURNITURE_BAND, PlacedBlock, Rect, overlap_ratio
from processor.text_layer import TEXT_FLAGS



def vector_and_image_figures(page: pymupdf.Page, avoid: list[Rect]) -> list[PlacedBlock]:
    """Embedded pictures and clusters of vector drawings big enough to be figures (cropped
    to PNG later). Text inside them (labels) stays in the text flow, where it can be searched."""
    area = page.rect.width * page.rect.height
    rects: list[Rect] = []
    for info in page.get_image_info():
        r = pymupdf.Rect(info["bbox"]) & page.rect
        if not r.is_empty and 0.01 < r.width * r.height / area < 0.9:
            rects.append(tuple(r))
    try:
        clusters = page.cluster_drawings()
    except Exception:  # older/odd drawings: pictures from images are still found
        clusters = []
    for r in clusters:
        r = r & page.rect
        if r.is_empty or r.width * r.height / area < 0.02 or min(r.width, r.height) < 30:
            continue
        if r.height < page.rect.height * FURNITURE_BAND and r.width > page.rect.width * 0.6:
            continue  # a rule under a running head or above a footnote
        rects.append(tuple(r))
    out: list[PlacedBlock] = []
    text_rects = [tuple(b[:4]) for b in page.get_text("blocks", flags=TEXT_FLAGS) if b[6] == 0]
    for rect in rects:
        if any(overlap_ratio(rect, t) > 0.5 or overlap_ratio(t, rect) > 0.5 for t in avoid):
            continue
        area = max(1e-6, (rect[2] - rect[0]) * (rect[3] - rect[1]))
        covered = sum(overlap_ratio(t, rect) * (t[2] - t[0]) * (t[3] - t[1]) for t in text_rects)
        if covered / area > 0.25:
            continue  # a frame around text (a code listing, a boxed note), not a picture
        if any(overlap_ratio(rect, f.bbox) > 0.8 for f in out):
            continue
        out.append(PlacedBlock(BlockType.FIGURE, rect, confidence=1.0))
    return out


def crop_figures(page: pymupdf.Page, placed: list[PlacedBlock], dpi: int, to_points: float) -> list[Asset]:
    """PNG crops of the figure blocks, named ``images/p{page}_{i}.png``; ``to_points`` turns
    block coordinates into PyMuPDF page points (1 for PDFs, points per pixel for images)."""
    assets: list[Asset] = []
    for pb in (p for p in placed if p.block_type is BlockType.FIGURE):
        clip = pymupdf.Rect(*(v * to_points for v in pb.bbox))
        pm = page.get_pixmap(dpi=dpi, clip=clip, alpha=False)
        pb.image_path = f"images/p{page.number + 1}_{len(assets) + 1}.png"
        pb.image_size = (pm.width, pm.height)
        assets.append(Asset(path=pb.image_path, data=pm.tobytes("png")))
    return assets
