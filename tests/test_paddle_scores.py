"""What the paddle pipelines' own results add to our blocks (processor/engines/paddle/scores.py):
the layout model's score as a block's confidence, PP-StructureV3's OCR lines, on result JSON shaped
as the pipelines write it (``res.json["res"]``)."""

from __future__ import annotations

from processor.document import BBox
from processor.engines.paddle.blocks import RawBlock, map_page_blocks
from processor.engines.paddle.scores import attach, carry


def det(label: str, box: list[float], score: float) -> dict:
    return {"cls_id": 0, "label": label, "score": score, "coordinate": box}


def raws() -> list[RawBlock]:
    return [
        RawBlock(label="text", content="Merged paragraph", bbox=(100, 100, 900, 400), index=0),
        RawBlock(label="table", content="<table><tr><td>1</td></tr></table>", bbox=(100, 450, 900, 800), index=1),
        RawBlock(label="image", content="", bbox=(100, 900, 500, 1200), index=2),
    ]


STRUCTURE_RES = {
    "model_settings": {"use_layout_detection": True},
    "layout_det_res": {"boxes": [
        det("text", [100, 100, 900, 240], 0.91), det("text", [100, 250, 900, 400], 0.64),  # merged into block 0
        det("table", [98, 448, 902, 802], 0.88),
        det("text", [110, 460, 300, 480], 0.40),  # a stray text box inside the table: the table's own label first
    ]},
    "overall_ocr_res": {
        "rec_texts": ["First line", "Second line", "", "cell 1", "outside"],
        "rec_scores": [0.99, 0.87, 0.5, 0.95, 0.9],
        "rec_boxes": [[100, 100, 880, 130], [100, 140, 700, 170], [0, 0, 1, 1], [120, 470, 200, 490],
                      [950, 950, 990, 990]],
    },
}


def test_block_confidence_is_its_lowest_layout_score_and_lines_come_from_the_ocr_result():
    blocks = raws()
    attach(blocks, STRUCTURE_RES, lines=True)
    assert [b.confidence for b in blocks] == [0.64, 0.88, None]  # the picture had no box of its own
    out = map_page_blocks(blocks, scale=(0.5, 0.5))
    assert [(ln.text, ln.confidence, ln.bbox) for ln in out[0].lines] == [
        ("First line", 0.99, BBox(x0=50, y0=50, x1=440, y1=65)), ("Second line", 0.87, BBox(x0=50, y0=70, x1=350, y1=85))]
    assert [ln.text for ln in out[1].lines] == ["cell 1"] and out[2].lines is None
    assert out[0].lines[0].words is None and out[0].confidence == 0.64  # PP-OCR gives no word boxes here


def test_no_lines_unless_asked_and_no_score_with_layout_detection_off():
    blocks = raws()
    attach(blocks, STRUCTURE_RES, lines=False)
    assert all(b.lines is None for b in blocks) and blocks[0].confidence == 0.64
    whole = [RawBlock(label="ocr", content="page", bbox=(0, 0, 1000, 1400), index=0)]
    off = {"model_settings": {"use_layout_detection": False},
           "layout_det_res": {"boxes": [det("ocr", [0, 0, 1000, 1400], 1)]}}  # the pipeline's stand-in box
    attach(whole, off, lines=True)
    assert whole[0].confidence is None and whole[0].lines is None  # PaddleOCR-VL: no overall_ocr_res


def test_restructured_blocks_keep_their_scores_and_lines():
    first = raws()
    attach(first, STRUCTURE_RES, lines=True)
    again = carry(first, RawBlock(label="table", content="", bbox=(100, 450, 900, 800), index=1))
    assert again.confidence == 0.88 and again.lines == first[1].lines
    assert carry(first, RawBlock(label="text", content="", bbox=(0, 0, 1, 1), index=7)).confidence is None


def test_lines_on_are_recorded_with_the_engine_so_checkpoints_without_them_are_not_resumed():
    from processor.engines.paddle.engine import PaddleEngine
    from processor.options import ConvertOptions, DocumentOptions, EngineName

    plain = PaddleEngine(ConvertOptions(engine=EngineName.PADDLEOCR_VL)).info.options
    lined = PaddleEngine(ConvertOptions(engine=EngineName.PADDLEOCR_VL, document=DocumentOptions(lines=True))).info
    assert "lines" not in plain and lined.options["lines"] is True  # off: the options recorded before
