"""The PaddleOCR-VL / PP-StructureV3 engine: the only package that imports paddleocr (lazily,
in ``engine``). ``setup`` builds the pipeline, ``stream`` feeds it pages of every document in
flight, ``pages``/``blocks`` turn its results into ours, ``pdf_text`` takes a sound PDF text
layer's characters, ``models``/``model_lock`` fetch and pin the model files."""

from processor.engines.paddle.engine import PaddleEngine

__all__ = ["PaddleEngine"]
