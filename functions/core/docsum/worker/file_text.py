"""A file's text: extracted on the document's first claim (bounded, and always in a child
process the OS bounds: a file that cannot be read ends `failed` with the reason, never
retried) and stored beside the JSON texts, so a retry reads the text, not the file."""

from __future__ import annotations

import time

from docsum.domain.document import Document, Extraction
from docsum.domain.files import FileKind
from docsum.extract.limits import ExtractionLimits
from docsum.extract.sandbox import SandboxLimits, extract_in_sandbox
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
        sandbox: SandboxLimits,
        max_upload_bytes: int,
        metrics: MetricsRecorder,
    ) -> None:
        self._store = store
        self._repository = repository
        self._limits = limits
        self._sandbox = sandbox
        self._max_upload_bytes = max_upload_bytes
        self._metrics = metrics

    def text_of(self, document: Document, generation: int) -> tuple[str, str | None]:
        """The text to summarize and the title: a file's text is extracted on first use."""
        original, source = document.original_key, document.source
        if original is None or source is None or document.text_chars > 0:
            return self._store.get_text(document.text_key), document.title
        # The first file posted to an upload form, even if a replay landed after it.
        data = self._store.get_bytes(original, self._max_upload_bytes, document.upload_version)
        started = time.monotonic()
        extracted = extract_in_sandbox(  # the kind is decided in the child too
            data,
            self._limits,
            self._sandbox,
            expected=FileKind(source.kind),
            filename=source.filename,
            declared_type=source.content_type,
        ).extracted
        kind = extracted.kind
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
