"""Does the structured page keep the page's text? The run-time check behind every CPU page.

Each stage of the engine (table finders, the column split, reading a text layer region by
region) can lose text or scramble it on a page nobody tuned it on. So every page is compared
with a **plain read** of itself, made at little cost from what the engine already has:
Tesseract's own words of the page's first recognition pass, in Tesseract's own order (OCR pages),
or the text layer's words in extraction order (text-layer pages). Two figures:

- **recall**: the share of the plain read's words found in the result (as a multiset);
- **order**: the share of the matched words that stand in the plain read's order: the longest
  run of them whose plain positions increase, over all matched (1.0: same order; two columns
  interleaved line by line score about 0.5).

``page.py`` undoes the stage that breaks them (see ``Fallback`` in ``processor.document``).
Words are compared case-folded, letters and digits only, with Latin/Cyrillic look-alikes
folded together and line-end hyphenation joined, so the engine's own repairs (script fixes,
URL joins, de-hyphenation) do not count as differences.
"""

from __future__ import annotations

import bisect
import html as html_lib
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from processor.engines.cpu.layout import PlacedBlock, Rect

_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]+>")
# Cyrillic letters that look like Latin ones: either reading of a look-alike is the same word here
_LOOKALIKES = str.maketrans("авсекморстухіјн", "abcekmopctyxijh")

# Thresholds, set on the whole development set (bench/README.md, "does no harm"): what the
# stages keep on sound pages, with room for OCR's own slips between two readings.
MIN_TABLE_RECALL = 0.75  # a table must hold this share of the plain read's words inside its box
MIN_ORDER = 0.70  # below it the engine's order is undone (every sound dev page reads >= 0.76)
# Text layers: extraction order is the generator's, not a reading order; only its regions
# (MuPDF's blocks) are a guide, and the order is undone only when it cuts them into more pieces
# than this each (sound dev pages: at most 5.75).
MAX_FRAGMENTS = 6.0
MIN_PAGE_RECALL = 0.85  # below it (after the undos), the page is the plain read


@dataclass(frozen=True)
class PlainWord:
    token: str
    bbox: Rect
    region: object = None  # the reader's own text region (Tesseract's block, MuPDF's block)


@dataclass(frozen=True)
class Agreement:
    recall: float
    order: float
    words: int  # in the plain read

    def as_dict(self) -> dict:
        return {"recall": round(self.recall, 4), "order": round(self.order, 4), "words": self.words}


def tokens(text: str) -> list[str]:
    return [t.casefold().translate(_LOOKALIKES) for t in _WORD.findall(text)]


def plain_words(words: Iterable[tuple[str, Rect, tuple]]) -> list[PlainWord]:
    """The plain read from (text, bbox, line key) in reading order, the line key's first item
    naming the reader's region (block): a word ending a line in "-" is joined with the next
    line's first word when that starts in lower case."""
    out: list[PlainWord] = []
    last_line = None
    pending_hyphen = False
    for text, bbox, line in words:
        parts = tokens(text)
        if not parts:
            continue
        new_line = line != last_line
        if pending_hyphen and new_line and out and text[:1].islower():
            joined = out.pop()
            box = (min(joined.bbox[0], bbox[0]), min(joined.bbox[1], bbox[1]),
                   max(joined.bbox[2], bbox[2]), max(joined.bbox[3], bbox[3]))
            parts[0] = joined.token + parts[0]
            out.extend(PlainWord(p, box, joined.region) for p in parts)
        else:
            out.extend(PlainWord(p, bbox, line[0]) for p in parts)
        pending_hyphen = text.endswith("-")
        last_line = line
    return out


def block_tokens(block: PlacedBlock) -> list[str]:
    if block.text is not None:
        return tokens(block.text)
    if block.html is not None:
        return html_tokens(block.html)
    return []


def html_tokens(html: str) -> list[str]:
    return tokens(html_lib.unescape(_TAG.sub(" ", html)))


def result_tokens(blocks: Sequence[PlacedBlock]) -> list[str]:
    return [t for b in blocks for t in block_tokens(b)]


def agreement(plain: Sequence[str], result: Sequence[str]) -> Agreement:
    positions = _matched_positions(plain, result)
    recall = len(positions) / len(plain) if plain else 1.0
    order = _longest_increasing(positions) / len(positions) if positions else 1.0
    return Agreement(recall, order, len(plain))


def centred_in(rect: Rect, box: Rect) -> bool:
    """Whether ``rect``'s centre lies in ``box``."""
    return box[0] <= (rect[0] + rect[2]) / 2 <= box[2] and box[1] <= (rect[1] + rect[3]) / 2 <= box[3]


def inside(plain: Sequence[PlainWord], box: Rect) -> list[str]:
    """The plain read's words whose centre lies in ``box``."""
    return [w.token for w in plain if centred_in(w.bbox, box)]


def fragments(plain: Sequence[PlainWord], result: Sequence[str]) -> float:
    """How many pieces the result cuts the plain read's regions into, per region: 1.0 when it
    reads each of them in one go; two columns interleaved line by line score their line count."""
    positions = _matched_positions([w.token for w in plain], result)
    regions = [plain[i].region for i in positions]
    if not regions:
        return 1.0
    runs = 1 + sum(a != b for a, b in pairwise(regions))
    return runs / len(set(regions))


def plain_order(blocks: list[PlacedBlock], plain: Sequence[PlainWord], by_region: bool = False) -> list[PlacedBlock]:
    """``blocks`` in the plain read's order: each where the median of its words stands there
    (counting words the plain read has once, where it has any: a "the" says nothing of where a
    block is). ``by_region``: regrouped by the plain read's regions instead, the regions in the
    plain read's order, each region's blocks in their given order (a block's region is the one
    most of its words come from). A block with no word there (an empty table, a figure) goes
    with the plain word nearest its top-left corner."""
    pool: dict[str, deque[int]] = {}
    first_of: dict[object, int] = {}  # region -> where it starts
    for i, w in enumerate(plain):
        pool.setdefault(w.token, deque()).append(i)
        first_of.setdefault(w.region, i)
    once = {t: q[0] for t, q in pool.items() if len(q) == 1}  # words the plain read has once
    keys: list[float] = []
    for block in blocks:
        words = block_tokens(block)
        taken = [pool[t].popleft() for t in words if pool.get(t)]
        if taken and not by_region:
            where = sorted(once[t] for t in words if t in once) or sorted(taken)
            keys.append(where[len(where) // 2])
        elif taken:
            votes: dict[object, int] = {}
            for i in taken:
                votes[plain[i].region] = votes.get(plain[i].region, 0) + 1
            keys.append(first_of[max(votes, key=lambda r: votes[r])])
        elif plain:
            x, y = block.bbox[0], block.bbox[1]
            near = min(range(len(plain)), key=lambda i: abs(plain[i].bbox[1] - y) + abs(plain[i].bbox[0] - x))
            keys.append(first_of[plain[near].region] if by_region else near - 0.5)
        else:
            keys.append(0.0)
    return [b for _, _, b in sorted(zip(keys, range(len(blocks)), blocks, strict=True), key=lambda t: (t[0], t[1]))]


def _matched_positions(plain: Sequence[str], result: Sequence[str]) -> list[int]:
    """For each result word found in the plain read, the plain position it is matched to (the
    k-th occurrence of a word in the result to its k-th occurrence in the plain read)."""
    pool: dict[str, deque[int]] = {}
    for i, t in enumerate(plain):
        pool.setdefault(t, deque()).append(i)
    return [pool[t].popleft() for t in result if pool.get(t)]


def _longest_increasing(values: Sequence[int]) -> int:
    tails: list[int] = []
    for v in values:
        at = bisect.bisect_left(tails, v)
        if at == len(tails):
            tails.append(v)
        else:
            tails[at] = v
    return len(tails)
