"""The file formats docsum reads, and the media type each is stored under."""

from __future__ import annotations

from enum import StrEnum


class FileKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    EPUB = "epub"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"
    PPTX = "pptx"
    ODT = "odt"
    ODP = "odp"
    RTF = "rtf"
    EML = "eml"
    # Photos and scans: read by OCR.
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    WEBP = "webp"


MEDIA_TYPES: dict[FileKind, str] = {
    FileKind.PDF: "application/pdf",
    FileKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    FileKind.EPUB: "application/epub+zip",
    FileKind.HTML: "text/html",
    FileKind.MARKDOWN: "text/markdown",
    FileKind.TEXT: "text/plain",
    FileKind.PPTX: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    FileKind.ODT: "application/vnd.oasis.opendocument.text",
    FileKind.ODP: "application/vnd.oasis.opendocument.presentation",
    FileKind.RTF: "application/rtf",
    FileKind.EML: "message/rfc822",
    FileKind.PNG: "image/png",
    FileKind.JPEG: "image/jpeg",
    FileKind.TIFF: "image/tiff",
    FileKind.WEBP: "image/webp",
}
IMAGE_KINDS = (FileKind.PNG, FileKind.JPEG, FileKind.TIFF, FileKind.WEBP)
SUPPORTED_TYPES_TEXT = ", ".join(MEDIA_TYPES.values())
