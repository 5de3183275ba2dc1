"""A file's text: extracted on the document's first claim (bounded; a file that cannot be read
ends `failed` with the reason, never retried) and stored beside the JSON texts, so a retry
reads the text, not the file."""

from __future__ import annotations

import time

from docsum.domain.document import Document, Extraction
from docsum.domain.files import FileKind
from docsum.extract.dispatch import extract
from docsum.extract.kinds import detect_kind
from docsum.extract.limits import ExtractionFailed, ExtractionLimits
from docsum.platform.observability import logger
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.repository import DocumentRepository
from docsum.ports.storage import TextStore


class FileText:
    def __init__(
        self,
        store: TextStore,
        repository: DocumentRepository,
        limits: ExtractionLimits,
        max_upload_bytes: int,
        metrics: MetricsRecorder,
    ) -> None:
        self._store = store
        self._repository = repository
        self._limits = limits
        self._max_upload_bytes = max_upload_bytes
        self._metrics = metrics

    def text_of(self, document: Document, generation: int) -> tuple[str, str | None]:
        """The text to summarize and the title: a file's text is extracted on first use."""
        original, source = document.original_key, document.source
        if original is None or source is None or document.text_chars > 0:
            return self._store.get_text(document.text_key), document.title
        data = self._store.get_bytes(original, self._max_upload_bytes)
        kind = detect_kind(data, filename=source.filename, declared_type=source.content_type)
        if kind != FileKind(source.kind):
            raise ExtractionFailed(
                f"the file that arrived is {kind.value}, not the declared {source.kind}"
            )
        started = time.monotonic()
        extracted = extract(data, kind, self._limits)
        self._metrics.seconds("ExtractionTime", time.monotonic() - started)
        self._store.put_text(document.text_key, extracted.text)
        title = document.title or extracted.title or source.filename
        self._repository.save_extraction(
            document.id,
            generation,
            len(extracted.text),
            title,
            source.model_copy(
                update={
                    "bytes": len(data),
                    "pages": extracted.pages,
                    "page_starts": _list(extracted.page_starts),
                    "extraction": Extraction(
                        method=extracted.method,
                        pages=extracted.pages,
                        ocr_pages=extracted.ocr_pages,
                        confidence=extracted.confidence,
                    ),
                }
            ),
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
        if extracted.ocr_pages:
            self._metrics.count("OcrPages", extracted.ocr_pages)
        return extracted.text, title


def _list(starts: tuple[int, ...] | None) -> list[int] | None:
    return list(starts) if starts is not None else None
