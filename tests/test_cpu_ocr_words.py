"""What the CPU engine does to Tesseract's words before layout: script look-alikes and the
lowercase Cyrillic letters Tesseract reads as capitals. Synthetic lines of words with the
boxes a scanned page gives (x-height 19 px, capitals 26 px), no OCR run."""

from __future__ import annotations

from processor.engines.cpu.ocr import OcrWord, fix_scripts


def _line(*words: tuple[str, int]) -> list[OcrWord]:
    """Words on one line, left to right; each (text, height in px) sits on baseline y=100."""
    out, x = [], 50
    for text, height in words:
        out.append(OcrWord(text=text, bbox=(x, 100 - height, x + 12 * len(text), 100), conf=90,
                           block=1, par=1, line=1))
        x += 12 * len(text) + 10
    return out


def test_capitals_no_taller_than_the_x_height_are_lowercase():
    # "отправляете на Launchpad", "вы не пользуетесь": Tesseract gives "Ha", "He" (Latin)
    words = _line(("отправляете", 26), ("Ha", 19), ("Launchpad", 26), ("и", 19), ("просите", 26))
    fix_scripts(words)
    assert [w.text for w in words] == ["отправляете", "на", "Launchpad", "и", "просите"]
    words = _line(("Если", 26), ("вы", 19), ("He", 19), ("пользуетесь", 26), ("ОТ", 19), ("TOM,", 23))
    fix_scripts(words)
    assert [w.text for w in words] == ["Если", "вы", "не", "пользуетесь", "от", "том,"]


def test_a_short_latin_look_alike_word_is_cyrillic_even_where_the_line_is_mostly_latin():
    # "Подробности о не-linux переносах см. на странице https://example.org/ports/#nonlinux."
    words = _line(("Подробности", 26), ("о", 19), ("He-linux", 26), ("переносах", 26), ("cM.", 19),
                  ("Ha", 19), ("странице", 26), ("https://example.org/ports/#nonlinux.", 26))
    fix_scripts(words)
    assert [w.text for w in words][5] == "на"
    assert [w.text for w in words][2] == "He-linux"  # not all look-alikes: left as read


def test_true_capitals_stay():
    # a sentence's first word and an acronym stand at cap height; "ОС" has no x-height twin issue
    words = _line(("На", 26), ("этой", 19), ("машине", 19), ("ОС", 26), ("ПО,", 31), ("Не", 27))
    fix_scripts(words)
    assert [w.text for w in words] == ["На", "этой", "машине", "ОС", "ПО,", "Не"]


def test_without_lowercase_x_height_words_nothing_is_judged():
    # a line in capitals (a running head, small caps): no x-height to compare with
    words = _line(("ГЛАВА", 26), ("ТАКОЕ", 19), ("НА", 19))
    fix_scripts(words)
    assert [w.text for w in words] == ["ГЛАВА", "ТАКОЕ", "НА"]


def test_latin_words_are_not_touched():
    # an English line: "SO" as short as "see" is Tesseract's business, not this rule's
    words = _line(("see", 19), ("SO", 19), ("it", 26), ("goes", 23))
    fix_scripts(words)
    assert [w.text for w in words] == ["see", "SO", "it", "goes"]
