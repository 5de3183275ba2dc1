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
from docsum.extract.mail import is_email
from docsum.extract.opendocument import odf_kind
from docsum.extract.rtf import is_rtf
from docsum.extract.slides import is_pptx

_KIND_OF_MEDIA_TYPE = {
    **{media_type: kind for kind, media_type in MEDIA_TYPES.items()},
    "text/rtf": FileKind.RTF,  # what some systems call RTF
}
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
    ".pptx": FileKind.PPTX,
    ".odt": FileKind.ODT,
    ".odp": FileKind.ODP,
    ".rtf": FileKind.RTF,
    ".eml": FileKind.EML,
    ".png": FileKind.PNG,
    ".jpg": FileKind.JPEG,
    ".jpeg": FileKind.JPEG,
    ".tif": FileKind.TIFF,
    ".tiff": FileKind.TIFF,
    ".webp": FileKind.WEBP,
}
# A ZIP too damaged to open still shows its first members' local headers: enough to name the
# format, so the reader of that format says what is wrong with it.
_DAMAGED_ZIP_MARKS = (
    (b"ppt/", FileKind.PPTX),
    (b"mimetypeapplication/vnd.oasis.opendocument.presentation", FileKind.ODP),
    (b"mimetypeapplication/vnd.oasis.opendocument.text", FileKind.ODT),
    (b"mimetypeapplication/epub+zip", FileKind.EPUB),
)
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
    # Before the magic-number lookup: RTF and e-mail are text with a signature of their own.
    if is_rtf(data):
        return FileKind.RTF
    if is_email(data):
        return FileKind.EML
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
    """The format a ZIP package declares by its parts (OpenDocument: by its `mimetype`)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            declared = odf_kind(archive)
    except (zipfile.BadZipFile, ValueError, OSError):
        # Truncated, yet it starts like one: let that format's reader say it is damaged.
        head = data[:65536]
        return next((kind for mark, kind in _DAMAGED_ZIP_MARKS if mark in head), FileKind.DOCX)
    if "word/document.xml" in names:
        return FileKind.DOCX
    if is_pptx(names):
        return FileKind.PPTX
    if declared is not None and "content.xml" in names:
        return declared
    if "META-INF/container.xml" in names:  # after OpenDocument, whose packages have one too
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
        # A supported type named here (puremagic takes "From: …" text for an e-mail) failed
        # that format's own check above: the text formats decide what it is.
        readable = mime.startswith("text/") or kind_of_media_type(mime) is not None
        if mime and not readable and match.confidence >= 0.5:
            return mime
    return None
