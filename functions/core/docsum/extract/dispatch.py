"""Files → text: the reader for a file's format (`kinds` decides it), then the text tidied and
checked against the limits.

Every parser is imported lazily, inside the function for its format, so neither function's cold
start pays for formats it is not handed. Extraction is bounded: the input size, PDF pages, the
unpacked size of a DOCX or EPUB, the markup elements a parser would build, how deep HTML nests,
Markdown's emphasis marks (`bounds`, checked before each parse), a deadline checked between
pages/paragraphs, and the text length; past a bound it stops with `ExtractionFailed` naming the
limit, never by timing out the function. The worker runs all of it in a child process the OS
bounds (`sandbox`) for what these bounds miss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from docsum.domain.files import IMAGE_KINDS, FileKind
from docsum.extract.decode import is_blank, tidy
from docsum.extract.html import read_html, read_markdown, read_text
from docsum.extract.image import read_image
from docsum.extract.kinds import UnsupportedFileType, detect_kind
from docsum.extract.limits import (
    Extracted,
    ExtractionDeadline,
    ExtractionFailed,
    ExtractionLimits,
    reason_of,
    too_long,
)
from docsum.extract.mail import read_eml
from docsum.extract.office import read_docx, read_epub
from docsum.extract.opendocument import read_odp, read_odt
from docsum.extract.pdf import read_pdf
from docsum.extract.rtf import read_rtf
from docsum.extract.slides import read_pptx

Reader = Callable[[bytes, ExtractionLimits, ExtractionDeadline], Extracted]
READERS: dict[FileKind, Reader] = {
    FileKind.PDF: read_pdf,
    FileKind.DOCX: read_docx,
    FileKind.EPUB: read_epub,
    FileKind.HTML: read_html,
    FileKind.MARKDOWN: read_markdown,
    FileKind.TEXT: read_text,
    FileKind.PPTX: read_pptx,
    FileKind.ODT: read_odt,
    FileKind.ODP: read_odp,
    FileKind.RTF: read_rtf,
    FileKind.EML: lambda data, limits, deadline: read_eml(
        data, limits, deadline, read_attachment=_attachment
    ),
    **{image: partial(read_image, kind=image) for image in IMAGE_KINDS},
}


def _attachment(
    data: bytes, filename: str | None, declared_type: str, limits: ExtractionLimits
) -> Extracted:
    """An e-mail's attachment, read by its own format's path; not another e-mail, not an
    image (logos and signatures: OCR would cost seconds for nothing)."""
    kind = detect_kind(data, filename=filename, declared_type=declared_type)
    if kind is FileKind.EML:
        raise UnsupportedFileType("an e-mail attached to an e-mail")
    if kind in IMAGE_KINDS:
        raise UnsupportedFileType("an image attached to an e-mail (not OCR'd)")
    return extract(data, kind, limits)


def extract(data: bytes, kind: FileKind, limits: ExtractionLimits) -> Extracted:
    """The text of a file already known to be `kind`. Raises `ExtractionFailed`."""
    deadline = ExtractionDeadline(limits.deadline_seconds)
    extractor = READERS[kind]
    try:
        result = extractor(data, limits, deadline)
    except (ExtractionFailed, MemoryError):
        raise
    except Exception as exc:  # a parser tripping over a malformed file: the file's fault
        raise ExtractionFailed(
            f"the {kind.value} file could not be read: {type(exc).__name__}: {reason_of(exc)}"
        ) from exc
    # html_text's output, and paged text (tidied page by page: the page map stays true)
    tidied = result.page_starts is not None or kind in (
        FileKind.HTML,
        FileKind.MARKDOWN,
        FileKind.EPUB,
    )
    text = result.text if tidied else tidy(result.text)
    if is_blank(text):
        raise ExtractionFailed(f"the {kind.value} file contains no text")
    if len(text) > limits.max_chars:
        raise ExtractionFailed(too_long(len(text), limits.max_chars))
    title = " ".join(result.title.split())[:300] if result.title else None
    return replace(result, text=text, kind=kind, title=title or None)
