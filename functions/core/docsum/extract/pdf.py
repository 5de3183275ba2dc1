"""PDF → text (pypdf), page by page within the page limit and the deadline."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from docsum.domain.files import FileKind
from docsum.extract.limits import (
    Extracted,
    ExtractionDeadline,
    ExtractionFailed,
    ExtractionLimits,
    collect,
    reason_of,
)


def read_pdf(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionFailed("the PDF is password-protected; remove the password and retry")
        pages = len(reader.pages)
        if pages > limits.max_pdf_pages:
            raise ExtractionFailed(
                f"the PDF has {pages} pages; at most {limits.max_pdf_pages} are accepted"
            )
        title = _pdf_title(reader)

        def texts() -> Iterator[str]:
            for page in reader.pages:
                yield page.extract_text() or ""

        text = collect(texts(), limits, deadline, f"PDF of {pages} pages")
    except ExtractionFailed:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionFailed("the PDF is password-protected; remove the password") from exc
    except DependencyError as exc:
        raise ExtractionFailed(f"the PDF's encryption is not supported: {exc}") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ExtractionFailed(f"the PDF is damaged or truncated: {reason_of(exc)}") from exc
    if not text.strip():
        raise ExtractionFailed(
            "the PDF has no extractable text (scanned pages or images only); OCR is not supported"
        )
    return Extracted(text=text, kind=FileKind.PDF, title=title, pages=pages)


def _pdf_title(reader: Any) -> str | None:
    try:
        metadata = reader.metadata
        return str(metadata.title) if metadata is not None and metadata.title else None
    except Exception:  # a damaged info dictionary must not cost the text
        return None
