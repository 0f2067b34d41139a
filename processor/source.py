"""Open an input: sniff its format by content, validate it, give access to its pages."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pymupdf
from PIL import Image

from processor.document import InputFormat, SourceInfo
from processor.errors import CorruptInput, EmptyInput, EncryptedInput, InputTooLarge, UnsupportedFormat
from processor.options import ConvertOptions

_MAGIC: list[tuple[bytes, InputFormat]] = [
    (b"%PDF-", InputFormat.PDF),
    (b"\x89PNG\r\n\x1a\n", InputFormat.PNG),
    (b"\xff\xd8\xff", InputFormat.JPEG),
    (b"II*\x00", InputFormat.TIFF),
    (b"MM\x00*", InputFormat.TIFF),
]

pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's repair chatter goes to stderr otherwise


def sniff_format(data: bytes) -> InputFormat:
    if not data:
        raise EmptyInput("the file is empty (0 bytes)")
    # PDFs may carry junk before the header; the spec tolerates up to 1 KiB.
    if b"%PDF-" in data[:1024]:
        return InputFormat.PDF
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    raise UnsupportedFormat(f"not a PDF, PNG, JPEG or TIFF (starts with {data[:8]!r})")


@dataclass
class OpenedInput:
    """An opened input. ``doc`` is a PyMuPDF document for PDFs and images alike. ``path``: the
    file it was opened from (MuPDF reads it as needed: its bytes are never held whole)."""

    info: SourceInfo
    doc: pymupdf.Document
    path: Path | None = None
    _data: bytes | None = None

    @property
    def is_pdf(self) -> bool:
        return self.info.format is InputFormat.PDF

    @property
    def data(self) -> bytes:
        """The whole input (read from ``path`` on demand: only for what needs it whole)."""
        if self._data is not None:
            return self._data
        assert self.path is not None
        return self.path.read_bytes()

    def close(self) -> None:
        self.doc.close()

    def __enter__(self) -> OpenedInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(src: Path | bytes, options: ConvertOptions, name: str | None = None) -> OpenedInput:
    """Open a file (read as MuPDF needs it) or bytes; sniff, validate, count pages."""
    path = None if isinstance(src, bytes) else Path(src)
    name = name or (path.name if path else "document")
    if path is not None:
        with path.open("rb") as f:
            head = f.read(1024)
            f.seek(0)
            size, sha256 = path.stat().st_size, hashlib.file_digest(f, "sha256").hexdigest()
    else:
        head, size, sha256 = src[:1024], len(src), hashlib.sha256(src).hexdigest()  # type: ignore[index]
    fmt = sniff_format(head)
    if fmt is not InputFormat.PDF:
        _check_image(path if path is not None else io.BytesIO(src), options)  # type: ignore[arg-type]
    try:
        doc = pymupdf.open(path, filetype=fmt.value) if path is not None else pymupdf.open(stream=src, filetype=fmt.value)
    except Exception as exc:  # MuPDF raises a bare RuntimeError/FileDataError on garbage
        raise CorruptInput(f"cannot open {fmt.value}: {exc}") from exc
    if doc.needs_pass:
        doc.close()
        raise EncryptedInput("the PDF is password-protected; docwatch does not take passwords")
    try:
        pages = doc.page_count
    except Exception as exc:
        doc.close()
        raise CorruptInput(f"cannot read the page tree: {exc}") from exc
    if pages == 0:
        doc.close()
        raise CorruptInput("the document has no pages")
    if pages > options.max_pages:
        doc.close()
        raise InputTooLarge(f"{pages} pages exceeds the limit of {options.max_pages} (max_pages)")
    info = SourceInfo(
        name=name,
        format=fmt,
        size=size,
        sha256=sha256,
        page_count=pages,
        repaired=bool(getattr(doc, "is_repaired", False)),
    )
    return OpenedInput(info=info, doc=doc, path=path, _data=src if isinstance(src, bytes) else None)


def _check_image(image: Path | io.BytesIO, options: ConvertOptions) -> None:
    """Read image headers only (no decode), so a huge image is refused before it eats memory."""
    Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces Pillow's bomb check
    try:
        with Image.open(image) as img:
            frames = getattr(img, "n_frames", 1)
            for i in range(frames):
                img.seek(i)
                w, h = img.size
                if w * h > options.max_image_pixels:
                    raise InputTooLarge(
                        f"image frame {i + 1} is {w}x{h} = {w * h:,} pixels, over the limit of "
                        f"{options.max_image_pixels:,} (max_image_pixels)"
                    )
    except InputTooLarge:
        raise
    except Exception as exc:
        raise CorruptInput(f"cannot read the image: {exc}") from exc
