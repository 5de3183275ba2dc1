"""What every format's reader shares: its bounds (`ExtractionLimits`), the deadline checked
between pages or paragraphs, the result, and the one failure (`ExtractionFailed`, permanent)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from docsum.domain.errors import DocsumError
from docsum.domain.files import FileKind


class ExtractionFailed(DocsumError):
    """The file is of a supported type but yields no usable text: permanent, never retried."""


@dataclass(frozen=True)
class ExtractionLimits:
    max_chars: int
    max_pdf_pages: int = 2000
    max_unpacked_bytes: int = 100 * 1024 * 1024
    deadline_seconds: float = 120.0
    # A parser's work (docsum.extract.bounds): elements, HTML depth, Markdown emphasis marks.
    max_markup_elements: int = 1_000_000
    max_html_depth: int = 1_000
    max_markdown_emphasis_marks: int = 200_000
    # OCR (docsum.extract.ocr). Flat fields: the limits travel to the extraction child as JSON.
    max_ocr_pages: int = 50
    max_image_pixels: int = 40_000_000  # an A4 page at 600 dpi is 35 MP; a 12 MP photo fits
    ocr_page_seconds: float = 60.0
    ocr_timeout_seconds: float = 300.0
    # The first language's model leads: with English first, Tesseract dropped the accents of
    # small letters (esta, aqui, revisö); accented languages first kept them, English unharmed.
    ocr_languages: str = "spa+fra+deu+eng"
    ocr_dpi: int = 200  # a scanned PDF page's render resolution: 300 dpi read no better here


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: FileKind
    title: str | None = None
    pages: int | None = None
    # Where each page begins in `text` (formats with pages), and how the text was obtained:
    # "text" (the file's own), "ocr" or "mixed"; OCR's mean word confidence (0-1).
    page_starts: tuple[int, ...] | None = None
    method: Literal["text", "ocr", "mixed"] = "text"
    ocr_pages: int = 0
    confidence: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.page_starts, list):  # back from the sandbox's JSON
            object.__setattr__(self, "page_starts", tuple(self.page_starts))


class ExtractionDeadline:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def check(self, doing: str) -> None:
        if time.monotonic() > self._ends:
            raise ExtractionFailed(
                f"extraction took longer than its {self._seconds:g} s limit ({doing})"
            )


def too_long(chars: int, limit: int) -> str:
    return f"the extracted text has {chars} characters or more; MAX_DOCUMENT_CHARS is {limit}"


def collect(
    parts: Iterable[str], limits: ExtractionLimits, deadline: ExtractionDeadline, what: str
) -> str:
    """Join text parts, stopping as soon as the text is over the limit or time is up."""
    kept: list[str] = []
    chars = 0
    for part in parts:
        deadline.check(what)
        kept.append(part)
        chars += len(part)
        if chars > limits.max_chars * 2:  # whitespace is tidied later: leave it headroom
            raise ExtractionFailed(too_long(chars, limits.max_chars))
    return "\n\n".join(kept)


def reason_of(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
