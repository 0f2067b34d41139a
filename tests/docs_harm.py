"""Generated pages on which the CPU engine has lost text that plain Tesseract keeps.

Each ``make_*`` writes a real file (an image-only PDF "scan", or a born-digital PDF) and
returns a ``GeneratedDoc`` whose ``text`` is what a reader sees on the page, in reading order
(an index: left column, then right column; a table: row by row). Content varies with
``seed`` (words drawn from lists written here) and is the same for the same seed.

- ``make_index_scan``: a two-column back-of-book index (headwords, indented sub-entries, page
  numbers after each entry or flush right, letter headings between groups);
- ``make_wide_table_scan``: a dense five-column table whose description column wraps over
  two or three lines in its cell, fully ruled or only lightly ruled;
- ``make_broken_tounicode_code_pdf``: a born-digital code listing in a monospaced font whose
  /ToUnicode map is present but WRONG (letters map to other letters), or absent;
- ``make_russian_list_scan``: an ordinary Russian page of paragraphs and a list.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image, ImageFilter

from tests.docs import GeneratedDoc, _flow, _Writer, font_path

__all__ = ["make_broken_tounicode_code_pdf", "make_index_scan", "make_russian_list_scan", "make_wide_table_scan",
           "save_scan"]

SCAN_DPI = 200


def save_scan(doc: pymupdf.Document, path: Path, seed: int, dpi: int = SCAN_DPI, angle: float | None = None) -> None:
    """Render the first page of ``doc`` in grey and degrade it like a scan (a slight turn,
    0.2-0.8 degrees either way unless ``angle`` says, blur, grain); write it as an image-only
    PDF page, or as a PNG if ``path`` ends so."""
    rng = random.Random(seed)
    page = doc[0]
    png = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY).tobytes("png")
    img = Image.open(io.BytesIO(png)).convert("L")
    turn = rng.choice((-1, 1)) * rng.uniform(0.2, 0.8)
    angle = turn if angle is None else angle
    img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(0.5))
    a = np.asarray(img, dtype=np.int16).ravel().copy()
    noise = np.random.default_rng(seed)
    spots = noise.integers(0, a.size, a.size // 25)
    a[spots] += noise.normal(0, 24, spots.size).astype(np.int16)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8).reshape(img.height, img.width))
    path = Path(path)
    if path.suffix.lower() == ".png":
        img.save(path, dpi=(dpi, dpi))
        return
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    out = pymupdf.open()
    scan = out.new_page(width=page.rect.width, height=page.rect.height)
    scan.insert_image(scan.rect, stream=buf.getvalue())
    out.save(path, deflate=True)
    out.close()


# ------------------------------------------------------------------ 1. a two-column index
_INDEX_WORDS = {
    "en": ("Apache Apt archive backup bandwidth binary bootloader buffer cache certificate checksum chroot "
           "client compiler cron daemon database Debian debugging device directory disk driver editor "
           "encoding environment filesystem firewall font gateway Git group hardware header host inode "
           "installer interface kernel keyboard library link locale logging mailbox memory module mount "
           "network package partition password patch permission pipe port printer process protocol proxy "
           "queue quota repository router scheduler script server shell signal socket swap syslog terminal "
           "thread timezone token update user variable volume webserver window workspace"),
    "ru": ("адрес архив база библиотека блокировка буфер ввод версия вывод выражение граница группа диск "
           "доступ драйвер журнал загрузка задача запрос защита значение индекс интерфейс источник каталог "
           "ключ код команда компилятор конфигурация кэш лицензия маршрут массив модуль монтирование набор "
           "область обновление объект отладка очередь пакет память параметр пароль пользователь порт "
           "поток права процесс протокол профиль раздел расширение редактор сервер сеть сигнал символ "
           "служба сокет список ссылка стек сценарий таблица терминал транзакция узел устройство файл "
           "фильтр формат функция хранилище цикл шаблон шифрование шрифт экран ядро язык"),
}
_INDEX_SUBS = {
    "en": ("configuration installation options security errors limits logs modules defaults testing "
           "upgrade removal tuning examples permissions variables commands syntax"),
    "ru": ("настройка установка параметры безопасность ошибки ограничения журналы модули проверка "
           "обновление удаление примеры права переменные команды синтаксис формат"),
}


def _pages(rng: random.Random) -> str:
    nums = sorted(rng.sample(range(3, 420), rng.choice((1, 1, 2, 2, 3))))
    return ", ".join(map(str, nums))


def make_index_scan(path: Path, language: str = "en", seed: int = 0, lines_per_column: int = 50,
                    numbers: str = "inline", size: float = 9.5, rule: bool = False) -> GeneratedDoc:
    """A scanned index page: two columns of short entries, indented sub-entries under some, a
    letter heading before each letter group. ``numbers="inline"``: the page numbers follow the
    entry ("Apache, 12, 45"); ``"right"``: they stand flush right at the column's edge, a gap
    after the entry ("Apache        12, 45"), as typeset indexes set them; ``"leaders"``: flush
    right with dot leaders filling the gap (the truth leaves the leaders out)."""
    if numbers not in ("inline", "right", "leaders"):
        raise ValueError(f"numbers must be 'inline', 'right' or 'leaders', not {numbers!r}")
    rng = random.Random(f"index-{language}-{seed}")
    words = sorted(set(_INDEX_WORDS[language].split()), key=str.casefold)
    lines: list[tuple[str, str, int, bool]] = []  # (entry, page numbers, indent level, is a letter heading)
    for word in words[rng.randrange(0, len(words) // 4):]:
        if len(lines) >= 2 * lines_per_column - 4:
            break
        if rng.random() < 0.25:
            continue
        letter = word[0].upper()
        if not any(t == letter for t, _, _, h in lines if h):
            lines.append((letter, "", 0, True))
        head = word[0].upper() + word[1:] if language == "en" and rng.random() < 0.3 else word
        subs = rng.sample(_INDEX_SUBS[language].split(), rng.choice((0, 0, 0, 1, 2, 3)))
        lines.append((head, _pages(rng) if not subs or rng.random() < 0.6 else "", 0, False))
        for sub in subs:
            lines.append((sub, _pages(rng), 1, False))
    lines = lines[: 2 * lines_per_column]
    doc = pymupdf.open()
    w = _Writer(doc)
    font = pymupdf.Font(fontfile=str(font_path()))
    lead = (842 - 2 * 56) / lines_per_column
    if rule:
        w.line((297, 56), (297, 56 + lines_per_column * lead))
    columns = [lines[:lines_per_column], lines[lines_per_column:]]
    said: list[str] = []
    for c, col in enumerate(columns):
        x, right = (60, 282) if c == 0 else (312, 535)
        for i, (entry, nums, indent, heading) in enumerate(col):
            y = 64 + i * lead
            if numbers == "inline" and nums:
                entry = f"{entry}, {nums}"
            w.page.insert_text((x + 14 * indent, y), entry, fontname="dvb" if heading else "dv",
                               fontsize=size + 1 if heading else size)
            if numbers != "inline" and nums:
                at = right - font.text_length(nums, fontsize=size)
                w.page.insert_text((at, y), nums, fontname="dv", fontsize=size)
                if numbers == "leaders":
                    start = x + 14 * indent + font.text_length(entry, fontsize=size) + 4
                    dots = int((at - 4 - start) / font.text_length(". ", fontsize=size))
                    w.page.insert_text((start, y), ". " * dots, fontname="dv", fontsize=size)
                entry = f"{entry} {nums}"
            said.append(entry)
    save_scan(doc, path, seed)
    doc.close()
    text = "\n".join(said)
    return GeneratedDoc(path=Path(path), text=text, pages=[text], headings=[t for t, _, _, h in lines if h])


# ------------------------------------------------------------------ 2. a wide table
_DESC = ("Поставка и монтаж оборудования для узла учёта тепловой энергии в здании склада; проверка "
         "герметичности трубопроводов после ремонта и составление акта; замена кабельных линий "
         "наружного освещения вдоль подъездной дороги с устройством опор; обследование несущих "
         "конструкций кровли и подготовка заключения о техническом состоянии; пусконаладочные работы "
         "системы вентиляции административного корпуса с измерением расхода воздуха; разработка "
         "рабочей документации на перенос сетей водоснабжения и канализации; техническое обслуживание "
         "резервной дизельной электростанции и испытание под нагрузкой")
_DESC = _DESC.split("; ")
_DESC_WORDS = " ".join(_DESC).split()
_TABLE_HEAD = ["№", "Код", "Наименование работ", "Срок", "Сумма, руб."]


def _wrap(font: pymupdf.Font, text: str, size: float, width: float) -> list[str]:
    out, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if cur and font.text_length(trial, fontsize=size) > width:
            out.append(cur)
            cur = word
        else:
            cur = trial
    return out + [cur] if cur else out


def make_wide_table_scan(path: Path, ruled: bool = True, seed: int = 0, rows: int | None = None,
                         angle: float | None = None) -> GeneratedDoc:
    """A scanned five-column table under a caption: number, code, a description wrapping over
    two or three lines in its cell, a date and a sum; a bold header row. ``ruled``: a full grid;
    else only rules above and below the header and at the foot, and faint grey lines between rows.
    ``angle``: the scan's turn in degrees (default: drawn by ``seed``, see ``save_scan``)."""
    rng = random.Random(f"table-{ruled}-{seed}")
    n = rows or rng.randint(20, 26)
    size, lead = 8.5, 10
    xs = [36, 58, 118, 440, 498, 560]
    font = pymupdf.Font(fontfile=str(font_path()))
    body = []
    for i in range(n):
        desc = rng.choice(_DESC)
        words = desc.split()
        extra = rng.sample(_DESC_WORDS, rng.randint(2, 9))
        desc = " ".join(words + extra) if len(words) < 14 else desc
        desc = desc[0].upper() + desc[1:]
        code = f"{rng.choice('АБВГДКМПРСТ')}{rng.choice('АБВГДКМПРСТ')}-{rng.randint(100, 999)}.{rng.randint(1, 99):02d}"
        date = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.20{rng.randint(18, 26)}"
        total = f"{rng.randint(1, 980)} {rng.randint(0, 999):03d},{rng.randint(0, 99):02d}"
        body.append([str(i + 1), code, desc, date, total])
    doc = pymupdf.open()
    w = _Writer(doc)
    caption = f"Таблица {rng.randint(2, 9)} – Перечень выполненных работ"
    y = w.box((36, 30, 560, 50), caption, size=10)
    y += 6
    grey = (0.65, 0.65, 0.65)
    top = y
    ys = [y]
    cells = [_TABLE_HEAD]
    for row in [_TABLE_HEAD, *body]:
        wrapped = [_wrap(font, cell, size, xs[c + 1] - xs[c] - 6) for c, cell in enumerate(row)]
        height = max(len(lines) for lines in wrapped) * lead + 5
        if y + height > 815:
            break  # the rows that fit on the page
        r = len(ys) - 1
        if r:
            cells.append(row)
        for c, lines in enumerate(wrapped):
            for k, line in enumerate(lines):
                w.page.insert_text((xs[c] + 3, y + 10 + k * lead), line, fontname="dvb" if r == 0 else "dv",
                                   fontsize=size)
        y += height
        ys.append(y)
    for k, yy in enumerate(ys):
        strong = ruled or k in (0, 1, len(ys) - 1)
        w.page.draw_line((xs[0], yy), (xs[-1], yy), width=0.8 if strong else 0.4, color=(0, 0, 0) if strong else grey)
    if ruled:
        for x in xs:
            w.line((x, top), (x, y))
    save_scan(doc, path, seed, angle=angle)
    doc.close()
    text = "\n\n".join([caption, *[" ".join(r) for r in cells]])
    return GeneratedDoc(path=Path(path), text=text, pages=[text], table_cells=cells, captions=[caption])


# ------------------------------------------------------------------ 3. a code listing, wrong /ToUnicode
_CODE = '''import os
import subprocess
from pathlib import Path

BUILD_DIR = Path("/tmp/build")
PACKAGES = ["libssl-dev", "zlib1g-dev", "make"]


def install_packages(names, quiet=True):
    """Install the build dependencies."""
    cmd = ["apt-get", "install", "-y"]
    if quiet:
        cmd.append("-q")
    return subprocess.run(cmd + names, check=True)


def configure(prefix="/usr/local"):
    os.makedirs(BUILD_DIR, exist_ok=True)
    args = ["./configure", f"--prefix={prefix}"]
    print("configuring in", BUILD_DIR)
    return subprocess.run(args, cwd=BUILD_DIR)


def build(jobs=4):
    result = subprocess.run(["make", f"-j{jobs}"], cwd=BUILD_DIR)
    if result.returncode != 0:
        raise RuntimeError("build failed")
    return result


def main():
    install_packages(PACKAGES)
    configure()
    build(jobs=os.cpu_count() or 2)
    print("done")


if __name__ == "__main__":
    main()'''.splitlines()

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_RU_LOWER = "абвгдежзийклмнопрстуфхцчшщыэюя"


def _wrong_letters(seed: int, cyrillic: bool) -> dict[str, str]:
    """A letter for each Latin letter (case kept): another Latin one (a derangement), or a Cyrillic one."""
    rng = random.Random(f"tounicode-{seed}")
    if cyrillic:
        targets = rng.sample(_RU_LOWER, len(_LOWER))
    else:
        targets = list(_LOWER)
        while any(a == b for a, b in zip(_LOWER, targets)):
            rng.shuffle(targets)
    pairs = dict(zip(_LOWER, targets))
    pairs.update({a.upper(): b.upper() for a, b in pairs.items()})
    return pairs


def _tounicode_cmap(font: pymupdf.Font, mapping: dict[str, str]) -> bytes:
    """A /ToUnicode CMap for an Identity-H font (CID = glyph id) of every printable ASCII
    character, each mapped to ``mapping.get(ch, ch)``."""
    entries = []
    for cp in range(0x20, 0x7F):
        gid = font.has_glyph(cp)
        if gid:
            entries.append(f"<{gid:04x}> <{ord(mapping.get(chr(cp), chr(cp))):04x}>")
    chunks = [entries[i:i + 100] for i in range(0, len(entries), 100)]
    body = "".join(f"{len(c)} beginbfchar\n" + "\n".join(c) + "\nendbfchar\n" for c in chunks)
    return ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo <</Registry(Adobe)/Ordering(UCS)/Supplement 0>> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + body
            + "endcmap\nCMapName currentdict /CMapResource defineresource pop\nend\nend\n").encode()


def make_broken_tounicode_code_pdf(path: Path, seed: int = 0, tounicode: str = "wrong",
                                   cyrillic: bool = False) -> GeneratedDoc:
    """A born-digital page: a heading and a paragraph in DejaVu Sans (sound), then a code
    listing in DejaVu Sans Mono whose /ToUnicode map is rewritten: ``tounicode="wrong"`` maps
    each letter's glyph to another letter (``cyrillic``: to a Cyrillic one), so the text layer
    reads as letter-like garbage ("nrq kain():") while the page shows the right code;
    ``"none"`` removes the map. ``seed`` picks the listing's lines and the letter permutation."""
    if tounicode not in ("wrong", "none"):
        raise ValueError(f"tounicode must be 'wrong' or 'none', not {tounicode!r}")
    rng = random.Random(f"code-{seed}")
    n = rng.randint(26, 36)
    start = rng.randrange(0, len(_CODE) - n + 1)
    code = _CODE[start:start + n]
    heading = "Сборка пакета из исходных текстов"
    para = ("Сценарий ниже устанавливает зависимости сборки, настраивает каталог и запускает make. "
            "Запустите его от имени пользователя с правами sudo.")
    mono = font_path().with_name("DejaVuSansMono.ttf")
    doc = pymupdf.open()
    w = _Writer(doc)
    w.page.insert_font(fontname="dvm", fontfile=str(mono))
    y = _flow(w, 72, heading, size=16, bold=True)
    y = _flow(w, y, para)
    for i, line in enumerate(code):
        w.page.insert_text((72, y + 12 + 13 * i), line, fontname="dvm", fontsize=9.5)
    for xref, _ext, _type, basefont, *_ in w.page.get_fonts(full=True):
        if "Mono" not in basefont:
            continue
        _kind, ref = doc.xref_get_key(xref, "ToUnicode")
        if tounicode == "none":
            doc.xref_set_key(xref, "ToUnicode", "null")
        else:
            cmap = _tounicode_cmap(pymupdf.Font(fontfile=str(mono)), _wrong_letters(seed, cyrillic))
            doc.update_stream(int(ref.split()[0]), cmap)
    doc.save(path, garbage=1)
    doc.close()
    text = "\n\n".join([heading, para, "\n".join(code)])
    return GeneratedDoc(path=Path(path), text=text, pages=[text], headings=[heading])


# ------------------------------------------------------------------ 4. a Russian page with a list
_RU_SENTENCES = [
    "Настоящее руководство описывает порядок подготовки рабочего места оператора.",
    "Перед началом работы необходимо убедиться в исправности оборудования и наличии доступа к сети.",
    "Все изменения конфигурации фиксируются в журнале с указанием даты и ответственного лица.",
    "При обнаружении неисправности работа прекращается до её устранения.",
    "Резервные копии данных создаются ежедневно и хранятся не менее тридцати дней.",
    "Пользователь обязан сообщать администратору о любых подозрительных событиях.",
    "Доступ к серверному помещению предоставляется только сотрудникам из утверждённого списка.",
    "Программное обеспечение обновляется после проверки на тестовом стенде.",
    "Пароли должны содержать не менее двенадцати символов и меняться раз в квартал.",
    "Отчёт о выполненных работах передаётся руководителю подразделения в конце месяца.",
]
_RU_ITEMS = [
    "проверить подключение питания и заземления;", "запустить программу диагностики;",
    "сверить версию прошивки с указанной в паспорте;", "заполнить журнал приёма смены;",
    "сообщить о результатах дежурному инженеру;", "отключить неиспользуемые учётные записи;",
    "убедиться в наличии свободного места на диске;", "проверить срок действия сертификатов;",
    "закрыть все открытые сеансы удалённого доступа;", "сохранить отчёт в общем каталоге;",
]
_RU_HEADINGS = ["1 Общие положения", "2 Порядок работы", "3 Требования безопасности", "4 Обслуживание системы"]


def make_russian_list_scan(path: Path, seed: int = 0) -> GeneratedDoc:
    """A scanned Russian page: a numbered heading, paragraphs, a bulleted or numbered list and a
    closing paragraph (sentences and items drawn by ``seed``)."""
    rng = random.Random(f"rulist-{seed}")
    heading = rng.choice(_RU_HEADINGS)
    paras = [" ".join(rng.sample(_RU_SENTENCES, rng.randint(2, 4))) for _ in range(rng.randint(2, 3))]
    items = rng.sample(_RU_ITEMS, rng.randint(4, 7))
    items[-1] = items[-1].rstrip(";") + "."
    numbered = rng.random() < 0.5
    marks = [f"{i + 1})" if numbered else "–" for i in range(len(items))]
    intro = "Перед началом смены оператор должен:"
    last = " ".join(rng.sample(_RU_SENTENCES, 2))
    doc = pymupdf.open()
    w = _Writer(doc)
    y = _flow(w, 72, heading, size=14, bold=True)
    for p in paras:
        y = _flow(w, y, p, size=12)
    y = _flow(w, y, intro, size=12)
    for mark, item in zip(marks, items):
        w.page.insert_text((78, y + 10), mark, fontname="dv", fontsize=12)
        y = w.box((100, y, 535, y + 60), item, size=12) + 3
    _flow(w, y + 10, last, size=12)
    save_scan(doc, path, seed)
    doc.close()
    text = "\n\n".join([heading, *paras, intro, *[f"{m} {t}" for m, t in zip(marks, items)], last])
    return GeneratedDoc(path=Path(path), text=text, pages=[text], headings=[heading], list_items=items)
