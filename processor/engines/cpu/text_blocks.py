"""A sound PDF text layer's lines as ``TextBlock``s, and its spans for table cells (whether the
layer is sound is ``processor.text_layer``'s to judge)."""

from __future__ import annotations

import pymupdf

from processor.engines.cpu.layout import Line, Rect, TextBlock, overlap_ratio, union
from processor.engines.cpu.tables import Span
from processor.font_trust import SpanTrust, tally_fonts, untrusted_chars
from processor.text_layer import fill_span_text, read_rawdict

# Fonts flag bits in PyMuPDF span["flags"].
_BOLD, _MONO = 16, 8


def table_spans(data: dict) -> list[Span]:
    """Spans in content-stream order, for filling table cells (see cpu_tables)."""
    out: list[Span] = []
    line_id = 0
    for raw in data["blocks"]:
        for rl in raw.get("lines", []):
            line_id += 1
            # spaces are spans of their own in some PDFs: keep them, or cell words run together
            for sp in rl["spans"]:
                if sp["text"]:
                    chars = [(c["c"], tuple(c["bbox"])) for c in sp["chars"]]
                    out.append(Span(sp["text"], tuple(sp["bbox"]), line_id, chars, sp["size"]))
    return out


def text_blocks(page: pymupdf.Page, exclude: list[Rect], data: dict | None = None) -> list[TextBlock]:
    """The page's text blocks (PyMuPDF's own grouping), skipping lines inside ``exclude``
    (tables, which are rendered separately)."""
    data = data if data is not None else read_rawdict(page)
    trust = tally_fonts(data)
    blocks: list[TextBlock] = []
    for raw in data["blocks"]:
        if raw.get("type") != 0:
            continue
        pieces = [
            _make_line(seg, trust)
            for rl in raw["lines"]
            if abs(rl["dir"][1]) <= 0.5  # vertical text (margins, rotated labels) is not body text
            for seg in _row_segments(rl["spans"])
        ]
        lines = [ln for ln in pieces if ln and not any(overlap_ratio(ln.bbox, ex) > 0.5 for ex in exclude)]
        if len(raw["lines"]) == 1 and len(lines) > 1:
            # one row holding far-apart pieces (formulas side by side in two columns)
            blocks.extend(TextBlock(lines=[ln], bbox=ln.bbox) for ln in lines)
        else:
            blocks.extend(_split_block(lines))
    return _join_code_lines(_attach_drop_caps(blocks))


def _join_code_lines(blocks: list[TextBlock]) -> list[TextBlock]:
    """Some generators put every line of a listing in a block of its own; monospaced blocks
    that follow one another at line spacing and share a left edge are one listing."""
    out: list[TextBlock] = []
    for b in blocks:
        prev = out[-1] if out else None
        if prev is not None and all(ln.mono for ln in prev.lines + b.lines):
            size = max(ln.size for ln in b.lines)
            gap = b.bbox[1] - prev.bbox[3]
            if -0.2 * size < gap < 1.0 * size and abs(b.bbox[0] - prev.bbox[0]) < 2 * size:
                out[-1] = TextBlock(lines=prev.lines + b.lines, bbox=union([prev.bbox, b.bbox]))
                continue
        out.append(b)
    return out


def _row_segments(spans: list[dict]) -> list[list[dict]]:
    """A line's spans left to right (a superscript written after its line comes back beside
    its base), cut where a gap is wider than a few letters (neighbouring columns)."""
    ordered = sorted((s for s in spans if s["text"]), key=lambda s: s["bbox"][0])
    if [id(s) for s in ordered] != [id(s) for s in spans if s["text"]]:
        fill_span_text(ordered)  # glyph-gap spaces again, for the new order
    segments: list[list[dict]] = []
    for sp in ordered:
        if segments and sp["bbox"][0] - segments[-1][-1]["bbox"][2] < 2.5 * sp["size"]:
            segments[-1].append(sp)
        else:
            segments.append([sp])
    return segments


def _make_line(spans: list[dict], trust: SpanTrust) -> Line | None:
    real = [s for s in spans if s["text"].strip()]
    if not real:
        return None
    # TeX sets double quotes as two single ones; readers (and searches) expect “ ”.
    text = "".join(s["text"] for s in spans).strip().replace("‘‘", "“").replace("’’", "”")
    main = max(real, key=lambda s: len(s["text"]))
    bold = all(s["flags"] & _BOLD or "bold" in s["font"].lower() for s in real)
    mono = all(s["flags"] & _MONO or "mono" in s["font"].lower() or "courier" in s["font"].lower() for s in real)
    return Line(text=text, bbox=union([tuple(s["bbox"]) for s in spans]), size=main["size"], bold=bold, mono=mono,
                untrusted=untrusted_chars(spans, trust)[0], words=_words(spans))


def _words(spans: list[dict]) -> list[tuple[str, Rect, None]]:
    """The line's words (runs of non-space characters) with the union of their glyph boxes."""
    words: list[tuple[str, Rect, None]] = []
    text, boxes = "", []
    for ch in (c for s in spans for c in s.get("chars", ())):
        if ch["c"].isspace():
            if text:
                words.append((text, union(boxes), None))
            text, boxes = "", []
        else:
            text += ch["c"]
            boxes.append(tuple(ch["bbox"]))
    if text:
        words.append((text, union(boxes), None))
    return words


def _attach_drop_caps(blocks: list[TextBlock]) -> list[TextBlock]:
    """A drop cap ("O" set large beside "ver the past...") is its own block; glue it back
    onto the first line it stands next to."""
    out = list(blocks)
    for cap in blocks:
        if len(cap.lines) != 1 or not (1 <= len(cap.lines[0].text) <= 2) or not cap.lines[0].text.isalpha():
            continue
        _, cy0, cx1, cy1 = cap.bbox
        for other in out:
            if other is cap or not other.lines:
                continue
            first = other.lines[0]
            near = cx1 - 2 <= first.bbox[0] <= cx1 + 3 * first.size
            beside = cy0 - first.size <= first.bbox[1] <= cy1
            if near and beside and cap.lines[0].size >= 1.8 * first.size:
                first.text = cap.lines[0].text + first.text
                other.bbox = union([other.bbox, cap.bbox])
                out.remove(cap)
                break
    return out


def _split_block(lines: list[Line]) -> list[TextBlock]:
    """PyMuPDF sometimes puts a heading and its paragraph, or lines of different sizes,
    in one block; cut where the font size or boldness changes, or at a large vertical gap."""
    out: list[list[Line]] = []
    for ln in _merge_same_row(lines):
        if out:
            prev = out[-1][-1]
            gap = ln.bbox[1] - prev.bbox[3]
            changed = abs(ln.size - prev.size) > 0.6 or ln.bold != prev.bold or ln.mono != prev.mono
            if not changed and gap < max(ln.size, prev.size) * 0.9:
                out[-1].append(ln)
                continue
        out.append([ln])
    return [TextBlock(lines=g, bbox=union([ln.bbox for ln in g])) for g in out]


def _merge_same_row(lines: list[Line]) -> list[Line]:
    """Pieces of one visual row may come as separate "lines" (a bullet and its text, a
    superscript beside its base): join them left to right. Pieces far apart on the row stay
    apart: they are neighbouring columns, not one line."""
    rows: list[list[Line]] = []
    for ln in lines:
        for row in rows:
            r = union([x.bbox for x in row])
            overlap = min(ln.bbox[3], r[3]) - max(ln.bbox[1], r[1])
            gap = max(ln.bbox[0] - r[2], r[0] - ln.bbox[2])
            if overlap >= 0.5 * min(ln.bbox[3] - ln.bbox[1], r[3] - r[1]) and gap < 1.5 * max(ln.size, 1.0):
                row.append(ln)
                break
        else:
            rows.append([ln])
    merged: list[Line] = []
    for row in rows:
        row.sort(key=lambda x: x.bbox[0])
        main = max(row, key=lambda x: len(x.text))
        merged.append(Line(
            text=" ".join(x.text for x in row),
            bbox=union([x.bbox for x in row]),
            size=main.size,
            bold=all(x.bold for x in row),
            mono=all(x.mono for x in row),
            untrusted=sum(x.untrusted for x in row),
            words=[w for x in row for w in (x.words or ())],
        ))
    return merged
