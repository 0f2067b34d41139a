"""``docwatch --version``: docwatch, the configured engine and the libraries it runs on, read
from package metadata (and ``tesseract --version``) without loading any model."""

from __future__ import annotations

import os

from processor.versions import package_version

_PACKAGES = {
    "cpu": ("pymupdf", "rapid-layout", "onnxruntime"),
    "paddleocr-vl": ("pymupdf", "paddleocr", "paddlex", "paddlepaddle", "paddlepaddle-gpu"),
    "pp-structurev3": ("pymupdf", "paddleocr", "paddlex", "paddlepaddle", "paddlepaddle-gpu"),
}


def version_text(engine: str | None = None) -> str:
    engine = engine or os.environ.get("DOCWATCH_ENGINE", "cpu")
    parts = [f"docwatch {package_version('docwatch') or 'unknown'}", f"engine {engine}"]
    for dist in _PACKAGES.get(engine, ("pymupdf",)):
        if (found := package_version(dist)) is not None:
            parts.append(f"{dist} {found}")
    if engine == "cpu":
        from processor.engines.cpu.ocr import tesseract_version

        parts.append(f"tesseract {tesseract_version()}")
    return "\n".join(parts)
