"""A file's text: extracted on the document's first claim (bounded, and always in a child
process the OS bounds: a file that cannot be read ends `failed` with the reason, never
retried) and stored beside the JSON texts, so a retry reads the text, not the file. A web
page's text: fetched (docsum.extract.fetch) on the first claim of each generation — a
re-summarize reads the page as it is now — then extracted by its served type's path like a
file, in the same child."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from docsum.domain.document import Document, Extraction, Source
from docsum.domain.files import FileKind
from docsum.extract.fetch import NO_READABLE_TEXT, PageFetchFailed, type_not_supported
from docsum.extract.kinds import UnsupportedFileType, detect_kind, kind_of_filename
from docsum.extract.limits import Extracted, ExtractionFailed, ExtractionLimits
from docsum.extract.ocr import NO_TEXT
from docsum.extract.sandbox import SandboxLimits, extract_in_sandbox
from docsum.platform.observability import logger
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.pages import PageSource
from docsum.ports.repository import DocumentRepository
from docsum.ports.storage import TextStore


class FileText:
    def __init__(
        self,
        store: TextStore,
        repository: DocumentRepository,
        limits: ExtractionLimits,
        sandbox: SandboxLimits,
        max_upload_bytes: int,
        metrics: MetricsRecorder,
        pages: Callable[[], PageSource],
    ) -> None:
        """`pages`: where pages come from, made on the first URL document (urllib3 and the CA
        store, or the fetch function's client)."""
        self._pages = pages
        self._store = store
        self._repository = repository
        self._limits = limits
        self._sandbox = sandbox
        self._max_upload_bytes = max_upload_bytes
        self._metrics = metrics

    def text_of(
        self, document: Document, generation: int
    ) -> tuple[str, str | None, list[int] | None]:
        """The text to summarize, the title and the page map (a file's, where it has pages):
        a file's text is extracted on first use."""
        original, source = document.original_key, document.source
        if source is not None and source.url is not None:
            if source.fetched_generation == generation and document.text_chars > 0:
                return self._store.get_text(document.text_key), document.title, None
            # A web page has no pages to cite.
            text, title = self._page_text(document, source, source.url, generation)
            return text, title, None
        if original is None or source is None or document.text_chars > 0:
            pages = source.page_starts if source is not None else None
            return self._store.get_text(document.text_key), document.title, pages
        if source.kind is None:
            raise ExtractionFailed("the file's declared kind is missing")
        # The first file posted to an upload form, even if a replay landed after it.
        data = self._store.get_bytes(original, self._max_upload_bytes, document.upload_version)
        # The kind is decided in the child too: detection reads the untrusted bytes.
        extracted = self._extract(
            data,
            expected=FileKind(source.kind),
            filename=source.filename,
            declared_type=source.content_type,
        )
        kind = extracted.kind
        self._store.put_text(document.text_key, extracted.text)
        title = document.title or extracted.title or source.filename
        source = source.model_copy(update={"bytes": len(data), **self._how_read(extracted)})
        self._repository.save_extraction(
            document.id, generation, len(extracted.text), title, source
        )
        logger.info(
            "text extracted",
            extra={
                "kind": kind.value,
                "bytes": len(data),
                "chars": len(extracted.text),
                "method": extracted.method,
                "ocr_pages": extracted.ocr_pages,
            },
        )
        return extracted.text, title, source.page_starts

    def _how_read(self, extracted: Extracted) -> dict[str, Any]:
        """The source's pages, page map and how its text was obtained (OCR pages counted)."""
        if extracted.ocr_pages:
            self._metrics.count("OcrPages", extracted.ocr_pages)
        starts = extracted.page_starts
        return {
            "pages": extracted.pages,
            "page_starts": list(starts) if starts is not None else None,
            "extraction": Extraction(
                method=extracted.method,
                pages=extracted.pages,
                ocr_pages=extracted.ocr_pages,
                confidence=extracted.confidence,
            ),
        }

    def _page_text(
        self, document: Document, source: Source, url: str, generation: int
    ) -> tuple[str, str | None]:
        page = self._pages().fetch(url)
        if not page.data.strip():
            raise PageFetchFailed(NO_READABLE_TEXT)
        path = urlsplit(page.url).path
        try:
            kind = detect_kind(page.data, filename=path, declared_type=page.media_type)
        except UnsupportedFileType as exc:
            raise PageFetchFailed(type_not_supported(exc.what)) from exc
        if kind is FileKind.TEXT and kind_of_filename(path) is None and not page.media_type:
            kind = FileKind.HTML  # an untyped page without a file name is a web page
        try:
            extracted = self._extract(page.data, kind=kind)
        except ExtractionFailed as exc:
            # A page of scripts, images or an empty shell: the one stable reason for all.
            if "contains no text" in str(exc) or NO_TEXT in str(exc):
                raise PageFetchFailed(NO_READABLE_TEXT) from exc
            raise
        self._store.put_text(document.text_key, extracted.text)
        # The page's title unless the client gave one (a title from an earlier fetch is not).
        from_page = not document.title or source.title_from_page
        title = (extracted.title or url) if from_page else document.title
        self._repository.save_extraction(
            document.id,
            generation,
            len(extracted.text),
            title,
            source.model_copy(
                update={
                    "kind": kind,
                    "bytes": len(page.data),
                    "content_type": page.media_type,
                    "fetched_generation": generation,
                    "title_from_page": from_page,
                    **self._how_read(extracted),
                }
            ),
        )
        logger.info(
            "page fetched",
            extra={"kind": kind.value, "bytes": len(page.data), "chars": len(extracted.text)},
        )
        return extracted.text, title

    def _extract(
        self,
        data: bytes,
        *,
        kind: FileKind | None = None,
        expected: FileKind | None = None,
        filename: str | None = None,
        declared_type: str | None = None,
    ) -> Extracted:
        """The one extraction call of files and pages alike: in the OS-bounded child."""
        started = time.monotonic()
        try:
            return extract_in_sandbox(
                data,
                self._limits,
                self._sandbox,
                kind=kind,
                expected=expected,
                filename=filename,
                declared_type=declared_type,
            ).extracted
        finally:
            self._metrics.seconds("ExtractionTime", time.monotonic() - started)
