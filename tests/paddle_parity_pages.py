"""Realistic multi-block pages for the PaddleOCR-VL parity tests, built the way the pipeline builds them.

Layout detection cannot run here (no weights), so each block of a page is painted in a colour of
its own and ``ColourLayoutModel`` stands in for PP-DocLayoutV3: it finds each colour on the page
image and returns that block's box (with the quad ``polygon_points`` the V3 model gives), label and
score in reading order, as the real model's result. Everything after it is the real pipeline: the
overlap filter, cropping, block merging, VL requests (to ``ParityVLServer``, which answers each crop
with what a VL model would say for that block, in that model's formats: OTSL tables, ``\\[ \\]``
formulas), result assembly, ``restructure_pages`` and the Markdown.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pymupdf

from tests.vl_stub_server import StubVLServer

PAGE_W, PAGE_H = 595.0, 842.0  # A4 points


@dataclass(frozen=True)
class Spec:
    label: str
    box: tuple[float, float, float, float]  # PDF points
    answer: str = ""  # what the VL model answers for the block ("" = never asked: pictures)
    score: float = 0.93  # the layout model's detection score for the block


TABLE_OTSL_1 = "<fcel>Показатель<fcel>2023<fcel>2024<nl><fcel>Выручка<fcel>100<fcel>112<nl><fcel>Расходы<fcel>90<fcel>98<nl>"
TABLE_OTSL_2 = "<fcel>Прибыль<fcel>10<fcel>14<nl><fcel>Штат<fcel>50<fcel>55<nl>"

PAGES: list[list[Spec]] = [
    [
        Spec("header", (60, 20, 400, 34), "ООО «Ромашка» — годовой отчёт"),
        Spec("doc_title", (60, 50, 535, 90), "Годовой отчёт 2024"),
        Spec("paragraph_title", (60, 105, 300, 135), "1 Введение"),
        Spec("text", (60, 145, 535, 195), "Компания продолжила рост.\nВыручка выросла на 12 %."),
        Spec("paragraph_title", (60, 205, 300, 222), "1.1 Scope of the report"),
        Spec("text", (60, 230, 535, 270), "This report covers the fiscal year 2024 and all subsidiaries."),
        Spec("display_formula", (150, 280, 420, 320), "\\[\nR = \\frac{P}{C} \\cdot 100\\%\n\\]"),
        Spec("formula_number", (480, 290, 530, 310), "(1)"),
        Spec("image", (60, 330, 330, 520), "Q1 Q2 Q3 Q4"),  # read only with use_ocr_for_image_block
        Spec("figure_title", (60, 525, 330, 545), "Рис. 1. Выручка по кварталам", score=0.61),
        Spec("seal", (380, 340, 530, 490), "ОТДЕЛ КАДРОВ"),
        Spec("table", (60, 560, 535, 760), TABLE_OTSL_1, score=0.77),
        Spec("number", (290, 800, 305, 815), "1"),
    ],
    [
        Spec("header", (60, 20, 400, 34), "ООО «Ромашка» — годовой отчёт"),
        Spec("table", (60, 50, 535, 180), TABLE_OTSL_2),
        Spec("paragraph_title", (60, 200, 300, 230), "2 Results"),
        Spec("text", (60, 240, 535, 290), "Résumé: the naïve estimate holds.\nСреднее значение — 4,5."),
        Spec("vision_footnote", (60, 300, 535, 320), "Источник: данные компании.", score=0.52),
        Spec("footer", (60, 800, 400, 815), "Confidential"),
    ],
]


def colour(page: int, index: int) -> tuple[int, int, int]:
    """A colour per block, far apart from every other and from white (JPEG crops stay recognisable)."""
    k = page * 16 + index
    return (40 + 60 * (k % 4), 40 + 60 * ((k // 4) % 4), 40 + 100 * ((k // 16) % 2))


def make_pdf(pages: list[list[Spec]] = PAGES) -> bytes:
    doc = pymupdf.open()
    for p, specs in enumerate(pages):
        page = doc.new_page(width=PAGE_W, height=PAGE_H)
        for i, spec in enumerate(specs):
            page.draw_rect(pymupdf.Rect(*spec.box), color=None, fill=[c / 255 for c in colour(p, i)])
    data = doc.tobytes()
    doc.close()
    return data


def _all_specs(pages: list[list[Spec]]) -> list[tuple[tuple[int, int, int], Spec]]:
    return [(colour(p, i), spec) for p, specs in enumerate(pages) for i, spec in enumerate(specs)]


class _Sampler:
    batch_size = 8


class ColourLayoutModel:
    """Stands in for the layout detection model: page images (BGR) -> one result per image."""

    def __init__(self, pages: list[list[Spec]] = PAGES) -> None:
        self.specs = _all_specs(pages)
        self.batch_sampler = _Sampler()
        self.calls: list[dict] = []

    def __call__(self, images, **kwargs):
        from paddlex.inference.models.object_detection.result import DetResult
        from paddlex.modules.base.utils.pdparams2safetensors.inference_meta import _LABEL_DOC_LAYOUT_V2V3

        self.calls.append(kwargs)
        for image in images:
            rgb = np.asarray(image)[:, :, ::-1].astype(np.int16)
            boxes = []
            for rgb_colour, spec in self.specs:
                ys, xs = np.nonzero(np.all(np.abs(rgb - np.array(rgb_colour)) <= 6, axis=2))
                if len(xs) < 50:
                    continue
                x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
                boxes.append({
                    "cls_id": _LABEL_DOC_LAYOUT_V2V3.index(spec.label), "label": spec.label, "score": spec.score,
                    "coordinate": [x0, y0, x1, y1], "polygon_points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
                })  # fmt: skip
            yield DetResult({"input_path": None, "page_index": None, "input_img": image, "boxes": boxes})


class ParityVLServer(StubVLServer):
    """Answers each crop with its block's text: the crop's colour names the block."""

    PROMPTS = {"table": "Table Recognition:", "display_formula": "Formula Recognition:",
               "seal": "Seal Recognition:"}  # fmt: skip

    def __init__(self, pages: list[list[Spec]] = PAGES, **kwargs) -> None:
        super().__init__(**kwargs)
        self.specs = _all_specs(pages)
        self.wrong_prompts: list[tuple[str, str]] = []

    def answer(self, image: bytes | None, prompt: str) -> str:
        from PIL import Image

        pixels = np.asarray(Image.open(io.BytesIO(image or b"")).convert("RGB")).reshape(-1, 3).astype(np.int16)
        body = pixels[pixels.min(axis=1) < 235]  # not the white margin a crop may have
        median = np.median(body if len(body) else pixels, axis=0)
        _, spec = min(self.specs, key=lambda cs: float(np.abs(np.array(cs[0]) - median).sum()))
        if prompt != self.PROMPTS.get(spec.label, "OCR:"):
            self.wrong_prompts.append((spec.label, prompt))
        return spec.answer
