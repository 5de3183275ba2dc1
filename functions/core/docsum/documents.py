"""Ingest-side use cases: submit, read and re-summarize documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from docsum.errors import DocumentNotFound, DocumentTooLarge, InvalidDocument
from docsum.models import Document, Status, SummarizeRequest, utc_now
from docsum.observability import EMF_METRICS, logger
from docsum.ports import DocumentRepository, MetricsRecorder, TextStore, WorkQueue
from docsum.settings import Settings
from docsum.text import document_id


@dataclass(frozen=True)
class Submission:
    document: Document
    created: bool  # False: the same text was already submitted (same id, no new work)


class DocumentService:
    """Write order for a new document: S3 text, then the DynamoDB record (conditional), then the
    SQS message. A crash after the text leaves only an unreferenced object; a crash after the
    record leaves it `queued` without a message, which the next submission of the same text
    re-sends (see `_requeue_if_stuck`). A message never names a document that does not exist."""

    def __init__(
        self,
        store: TextStore,
        repository: DocumentRepository,
        queue: WorkQueue,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        metrics: MetricsRecorder = EMF_METRICS,
    ) -> None:
        self._store = store
        self._repository = repository
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._metrics = metrics

    def submit(self, text: str, title: str | None, correlation_id: str) -> Submission:
        text = text.strip()
        if title is not None and len(title) > self._settings.max_title_chars:
            raise InvalidDocument(
                "title", f"at most {self._settings.max_title_chars} characters, got {len(title)}"
            )
        if len(text) > self._settings.max_document_chars:
            raise DocumentTooLarge(len(text), self._settings.max_document_chars)
        doc_id = document_id(text)
        existing = self._repository.get(doc_id)
        if existing is not None:
            return self._duplicate(existing)

        text_key = f"documents/{doc_id}.txt"
        self._store.put_text(text_key, text)
        now = self._clock()
        document = Document(
            id=doc_id,
            title=title,
            text_key=text_key,
            text_chars=len(text),
            created_at=now,
            updated_at=now,
            enqueued_at=now,
            correlation_id=correlation_id,
        )
        if not self._repository.create(document):  # a concurrent submission won the race
            return self._duplicate(self.get(doc_id))
        self._send(document, correlation_id)
        self._metrics.count("DocumentsAccepted")
        logger.info("document accepted", extra={"document_id": doc_id, "chars": len(text)})
        return Submission(document, created=True)

    def get(self, doc_id: str) -> Document:
        document = self._repository.get(doc_id)
        if document is None:
            raise DocumentNotFound(doc_id)
        return document

    def resummarize(self, doc_id: str, correlation_id: str) -> Document:
        document = self._repository.request_summary(doc_id, self._clock(), correlation_id)
        self._send(document, correlation_id)
        self._metrics.count("ResummarizeRequested")
        logger.info(
            "re-summarize requested",
            extra={"document_id": doc_id, "generation": document.generation},
        )
        return document

    def _duplicate(self, document: Document) -> Submission:
        self._metrics.count("DuplicatesDetected")
        logger.info("duplicate document", extra={"document_id": document.id})
        self._requeue_if_stuck(document)
        return Submission(document, created=False)

    def _requeue_if_stuck(self, document: Document) -> None:
        now = self._clock()
        stuck = now - document.enqueued_at > timedelta(seconds=self._settings.requeue_after_seconds)
        if document.status is Status.QUEUED and stuck:
            logger.warning(
                "re-sending the message of a queued document", extra={"document_id": document.id}
            )
            self._send(document, document.correlation_id or "")
            self._repository.mark_enqueued(document.id, document.generation, now)

    def _send(self, document: Document, correlation_id: str) -> None:
        self._queue.send(
            SummarizeRequest(
                document_id=document.id,
                generation=document.generation,
                correlation_id=correlation_id or None,
                enqueued_at=self._clock(),
            )
        )
