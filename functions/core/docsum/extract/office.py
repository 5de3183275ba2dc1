"""DOCX (python-docx) and EPUB (ebooklib) → text, a zip bomb (or a package of too many parts)
refused before either inflates it and an element bomb (small, but millions of elements)
before either parses it."""

from __future__ import annotations

import io
from collections.abc import Iterator

from docsum.domain.files import FileKind
from docsum.extract.archive import ZIP_DATA_ERRORS, check_package
from docsum.extract.bounds import check_archive_elements
from docsum.extract.decode import decode_text
from docsum.extract.html import html_text
from docsum.extract.limits import (
    Extracted,
    ExtractionDeadline,
    ExtractionFailed,
    ExtractionLimits,
    collect,
    reason_of,
)


def read_docx(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    check_package(data, limits, "DOCX")
    check_archive_elements(data, limits.max_markup_elements, "DOCX")
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))

        def texts() -> Iterator[str]:
            for paragraph in document.paragraphs:
                yield paragraph.text
            for table in document.tables:
                for row in table.rows:
                    yield " | ".join(cell.text for cell in row.cells)

        text = collect(texts(), limits, deadline, "DOCX")
        title = document.core_properties.title or None
    except ExtractionFailed:
        raise
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError, *ZIP_DATA_ERRORS) as exc:
        # lxml's XMLSyntaxError is a SyntaxError.
        raise ExtractionFailed(f"the DOCX is damaged: {reason_of(exc)}") from exc
    return Extracted(text=text, kind=FileKind.DOCX, title=title)


def read_epub(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    check_package(data, limits, "EPUB")
    check_archive_elements(data, limits.max_markup_elements, "EPUB")
    from ebooklib import ITEM_DOCUMENT, epub

    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises plain exceptions for a broken container
        raise ExtractionFailed(f"the EPUB is damaged: {reason_of(exc)}") from exc

    def chapters() -> Iterator[str]:
        for idref, _ in book.spine:  # reading order
            item = book.get_item_with_id(idref)
            if item is not None and item.get_type() == ITEM_DOCUMENT:
                text = html_text(decode_text(item.get_content()), limits, "EPUB")[0]
                if text:  # the navigation document is all <nav>: nothing left
                    yield text

    text = collect(chapters(), limits, deadline, "EPUB")
    titles = book.get_metadata("DC", "title")
    return Extracted(text=text, kind=FileKind.EPUB, title=titles[0][0] if titles else None)
