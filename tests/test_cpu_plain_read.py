"""The CPU engine's run-time check against a plain read of the page (cpu/plain_read.py) and the
undos it drives (cpu/fallbacks.py), on hand-made blocks: each undo happens when its stage loses or
scrambles text, and only then."""

from __future__ import annotations

from processor.document import BlockType, FallbackStage
from processor.engines.cpu.fallbacks import TableCandidate, keep_plain_order, keep_tables, keep_text
from processor.engines.cpu.layout import PlacedBlock
from processor.engines.cpu.plain_read import PlainWord, agreement, plain_words, tokens


def _words(rows: list[tuple[float, float, str]]) -> list[PlainWord]:
    """One plain word per (x, y, text), each on a line of its own, in the order given."""
    return plain_words((text, (x, y, x + 40, y + 10), (i,)) for i, (x, y, text) in enumerate(rows))


def _two_columns() -> tuple[list[PlainWord], list[PlacedBlock]]:
    left = [f"left{i} entry{i} {10 + i}" for i in range(12)]
    right = [f"right{i} item{i} {40 + i}" for i in range(12)]
    plain = plain_words(
        [(text, (50, 100 + 20 * i, 250, 112 + 20 * i), ("L", i)) for i, text in enumerate(left)]
        + [(text, (320, 100 + 20 * i, 520, 112 + 20 * i), ("R", i)) for i, text in enumerate(right)]
    )
    # line by line across the gutter: what a failed column split gives
    interleaved = []
    for i in range(12):
        interleaved.append(PlacedBlock(BlockType.TEXT, (50, 100 + 20 * i, 250, 112 + 20 * i), text=left[i]))
        interleaved.append(PlacedBlock(BlockType.TEXT, (320, 100 + 20 * i, 520, 112 + 20 * i), text=right[i]))
    return plain, interleaved


def test_tokens_fold_case_lookalikes_and_punctuation():
    # "Ha" with a Latin H and "на" in Cyrillic are one word to the check (a script repair is no loss)
    assert tokens("Ha, ОТ-1!") == tokens("на от 1")
    assert tokens("https: //www. example. org") == tokens("https://www.example.org")


def test_plain_read_joins_line_end_hyphenation():
    plain = plain_words([("docu-", (0, 0, 10, 10), (1,)), ("ment", (0, 12, 10, 22), (2,)), ("Next", (0, 24, 10, 34), (3,))])
    assert [w.token for w in plain] == ["document", "next"]
    assert agreement([w.token for w in plain], tokens("document next")).recall == 1.0


def test_agreement_measures_loss_and_scrambling():
    plain = tokens("one two three four five six seven eight")
    same = agreement(plain, plain)
    assert (same.recall, same.order) == (1.0, 1.0)
    half = agreement(plain, tokens("one two three four"))
    assert half.recall == 0.5 and half.order == 1.0
    swapped = agreement(plain, tokens("five six seven eight one two three four"))
    assert swapped.recall == 1.0 and swapped.order == 0.5


def test_interleaved_columns_take_the_plain_reads_order():
    plain, interleaved = _two_columns()
    fallbacks = []
    out = keep_plain_order(interleaved, plain, fallbacks)
    assert [b.text for b in out][:12] == [b.text for b in interleaved[0::2]]
    assert [f.stage for f in fallbacks] == [FallbackStage.READING_ORDER]
    assert fallbacks[0].score_before < 0.8 <= fallbacks[0].score_after


def test_an_order_that_agrees_is_left_alone():
    plain, interleaved = _two_columns()
    columns = interleaved[0::2] + interleaved[1::2]
    fallbacks = []
    assert keep_plain_order(columns, plain, fallbacks) is columns
    assert fallbacks == []


def _table_words() -> list[PlainWord]:
    rows = [(x, y, f"w{r}c{c}") for r, y in enumerate(range(100, 300, 20)) for c, x in enumerate(range(50, 450, 100))]
    return _words(rows)


def test_a_table_that_holds_its_words_is_kept():
    plain = _table_words()
    html = "<table>" + "".join(
        "<tr>" + "".join(f"<td>w{r}c{c}</td>" for c in range(4)) + "</tr>" for r in range(10)) + "</table>"
    fallbacks = []
    kept = keep_tables([TableCandidate((40, 90, 500, 320), html, "ruled grid")], plain, lambda _: [], fallbacks)
    assert len(kept) == 1 and fallbacks == []


def test_a_table_that_drops_words_gives_way_to_a_finder_that_holds_them_or_to_text():
    plain = _table_words()
    empty = "<table>" + "<tr><td>w0c0</td><td></td></tr>" * 10 + "</table>"
    full = "<table>" + "".join(
        "<tr>" + "".join(f"<td>w{r}c{c}</td>" for c in range(4)) + "</tr>" for r in range(10)) + "</table>"
    box = (40, 90, 500, 320)
    fallbacks = []
    kept = keep_tables([TableCandidate(box, empty, "table model")], plain,
                       lambda _: [TableCandidate(box, full, "word columns")], fallbacks)
    assert [t.finder for t in kept] == ["word columns"]
    assert fallbacks[0].stage is FallbackStage.TABLE and fallbacks[0].score_after == 1.0
    fallbacks = []
    assert keep_tables([TableCandidate(box, empty, "table model")], plain, lambda _: [], fallbacks) == []
    assert "read as text" in fallbacks[0].reason


def test_one_cell_over_most_rows_holding_most_words_is_not_a_table():
    plain = _table_words()
    words = " ".join(f"w{r}c{c}" for r in range(10) for c in range(1, 4))
    garbled = ('<table><tr><td>w0c0</td><td rowspan="10">' + words + "</td></tr>"
               + "".join(f"<tr><td>w{r}c0</td></tr>" for r in range(1, 10)) + "</table>")
    fallbacks = []
    assert keep_tables([TableCandidate((40, 90, 500, 320), garbled, "table model")], plain, lambda _: [],
                       fallbacks) == []
    assert "one cell spanning 10 of 10 rows" in fallbacks[0].reason


def test_a_page_that_lost_text_is_the_plain_read():
    plain, interleaved = _two_columns()
    lossy = interleaved[:4]
    fallbacks = []
    out = keep_text(lossy, plain, lambda: interleaved[0::2] + interleaved[1::2], fallbacks)
    assert len(out) == 24
    assert [f.stage for f in fallbacks] == [FallbackStage.PAGE]


def test_an_unruled_table_that_reads_text_columns_across_is_text_a_ruled_one_is_kept():
    plain, interleaved = _two_columns()  # the plain read: two regions, column by column
    rows = "".join(f"<tr><td>{a.text}</td><td>{b.text}</td></tr>" for a, b in zip(interleaved[0::2], interleaved[1::2]))
    html = f"<table>{rows}</table>"
    box = (40, 90, 530, 360)
    fallbacks = []
    assert keep_tables([TableCandidate(box, html, "word columns")], plain, lambda _: [], fallbacks) == []
    assert "columns of text" in fallbacks[0].reason
    # rulings are evidence of a grid: a ruled table read across its columns stays a table
    fallbacks = []
    assert len(keep_tables([TableCandidate(box, html, "ruled grid")], plain, lambda _: [], fallbacks)) == 1
    assert fallbacks == []
