"""A file's format, decided from its bytes (magic numbers); the declared type or file name only
chooses between the text formats, which have none."""

from __future__ import annotations

import io
import re
import zipfile

from docsum.domain.errors import DocsumError
from docsum.domain.files import MEDIA_TYPES, SUPPORTED_TYPES_TEXT, FileKind
from docsum.extract.decode import decode_text
from docsum.extract.limits import ExtractionFailed

_KIND_OF_MEDIA_TYPE = {media_type: kind for kind, media_type in MEDIA_TYPES.items()}
_KIND_OF_SUFFIX = {
    ".pdf": FileKind.PDF,
    ".docx": FileKind.DOCX,
    ".epub": FileKind.EPUB,
    ".html": FileKind.HTML,
    ".htm": FileKind.HTML,
    ".xhtml": FileKind.HTML,
    ".md": FileKind.MARKDOWN,
    ".markdown": FileKind.MARKDOWN,
    ".txt": FileKind.TEXT,
    ".text": FileKind.TEXT,
}
_TEXT_KINDS = (FileKind.HTML, FileKind.MARKDOWN, FileKind.TEXT)
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


class UnsupportedFileType(DocsumError):
    """The bytes are none of the supported formats (the API answers 415)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not supported; supported types: {SUPPORTED_TYPES_TEXT}")
        self.what = what


def kind_of_media_type(media_type: str | None) -> FileKind | None:
    """`text/html; charset=utf-8` → HTML; None for anything unsupported."""
    if not media_type:
        return None
    return _KIND_OF_MEDIA_TYPE.get(media_type.split(";", 1)[0].strip().lower())


def kind_of_filename(filename: str | None) -> FileKind | None:
    if not filename or "." not in filename:
        return None
    return _KIND_OF_SUFFIX.get("." + filename.rsplit(".", 1)[1].lower())


def detect_kind(
    data: bytes, *, filename: str | None = None, declared_type: str | None = None
) -> FileKind:
    """The format, decided from the bytes (magic numbers); the client's type or file name only
    chooses between the text formats (HTML, Markdown, plain text), which have no magic number."""
    if not data:
        raise UnsupportedFileType("an empty file")
    if data.startswith(b"%PDF-"):
        return FileKind.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    image = _image_kind(data)
    if image is not None:
        return image
    binary = _binary_media_type(data)
    if binary is not None:
        raise UnsupportedFileType(binary)
    try:
        decode_text(data)
    except ExtractionFailed as exc:
        raise UnsupportedFileType("a binary file") from exc
    hinted = kind_of_media_type(declared_type) or kind_of_filename(filename)
    if hinted in _TEXT_KINDS:
        return hinted
    return FileKind.HTML if _HTML_START.match(data[:4096]) else FileKind.TEXT


def _image_kind(data: bytes) -> FileKind | None:
    """The image formats read by OCR, from their signatures."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return FileKind.TIFF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return FileKind.WEBP
    return None


def _zip_kind(data: bytes) -> FileKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        # A truncated DOCX still starts like one: let the extractor say it is damaged.
        return FileKind.DOCX
    if "word/document.xml" in names:
        return FileKind.DOCX
    if "META-INF/container.xml" in names:
        return FileKind.EPUB
    raise UnsupportedFileType("a ZIP archive")


def _binary_media_type(data: bytes) -> str | None:
    """A known binary format (image, executable, archive…), named for the 415 answer."""
    import puremagic  # only needed for files that are not PDF, ZIP or text

    try:
        matches = puremagic.magic_string(data[:8192])
    except puremagic.PureError:
        return None
    for match in matches:
        mime = match.mime_type or ""
        if mime and not mime.startswith("text/") and match.confidence >= 0.5:
            return mime
    return None
