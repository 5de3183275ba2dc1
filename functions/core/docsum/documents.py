"""Ingest-side use cases: submit, read and re-summarize documents."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from docsum.errors import DocumentNotFound, DocumentTooLarge, InvalidDocument
from docsum.models import DEFAULT_OWNER, Document, DocumentPage, Status, SummarizeRequest, utc_now
from docsum.observability import EMF_METRICS, logger
from docsum.ports import DocumentRepository, MetricsRecorder, TextStore, WorkQueue
from docsum.settings import Settings
from docsum.text import content_digest, document_id, text_key

# Used only when no secret is configured (unit tests, a bare local run): ids are then as
# guessable as they were before ownership, which is why the template always provides one.
DEVELOPMENT_ID_SECRET = b"docsum-development-only"


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
        id_secret: Callable[[], bytes] = lambda: DEVELOPMENT_ID_SECRET,
    ) -> None:
        """`id_secret` is called once, at the first submission (reads need no key)."""
        self._store = store
        self._repository = repository
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._id_secret = functools.cache(id_secret)

    def submit(
        self, text: str, title: str | None, correlation_id: str, owner: str = DEFAULT_OWNER
    ) -> Submission:
        text = text.strip()
        if title is not None and len(title) > self._settings.max_title_chars:
            raise InvalidDocument(
                "title", f"at most {self._settings.max_title_chars} characters, got {len(title)}"
            )
        if len(text) > self._settings.max_document_chars:
            raise DocumentTooLarge(len(text), self._settings.max_document_chars)
        digest = content_digest(text)
        doc_id = document_id(self._id_secret(), owner, digest)
        existing = self._live(self._repository.get(doc_id))
        if existing is not None:
            return self._duplicate(existing)

        key = text_key(owner, digest)
        self._store.put_text(key, text)
        now = self._clock()
        retention = self._settings.retention_days
        document = Document(
            id=doc_id,
            owner=owner,
            title=title,
            text_key=key,
            text_chars=len(text),
            created_at=now,
            updated_at=now,
            enqueued_at=now,
            correlation_id=correlation_id,
            expires_at=int((now + timedelta(days=retention)).timestamp()) if retention else None,
        )
        if not self._repository.create(document):  # a concurrent submission won the race
            return self._duplicate(self.get(doc_id, owner))
        self._send(document, correlation_id)
        self._metrics.count("DocumentsAccepted")
        logger.info("document accepted", extra={"document_id": doc_id, "chars": len(text)})
        return Submission(document, created=True)

    def get(self, doc_id: str, owner: str = DEFAULT_OWNER) -> Document:
        """Another owner's document is reported missing, exactly like an absent one."""
        document = self._live(self._repository.get(doc_id))
        if document is None or document.owner != owner:
            raise DocumentNotFound(doc_id)
        return document

    def list(
        self,
        owner: str = DEFAULT_OWNER,
        limit: int = 20,
        cursor: str | None = None,
        status: Status | None = None,
    ) -> DocumentPage:
        return self._repository.list_owned(owner, limit, cursor, status, self._clock())

    def delete(self, doc_id: str, owner: str = DEFAULT_OWNER) -> None:
        """Record first (from then on the document is gone for readers and the worker), then
        its S3 objects, unless another document of the owner (other options, same content)
        still uses them."""
        document = self.get(doc_id, owner)
        if not self._repository.delete(doc_id, self._clock()):
            raise DocumentNotFound(doc_id)  # a concurrent delete got there first
        for key in document.object_keys:
            if not self._repository.text_in_use(key):
                self._store.delete(key)
        self._metrics.count("DocumentsDeleted")
        logger.info("document deleted", extra={"document_id": doc_id})

    def resummarize(self, doc_id: str, correlation_id: str, owner: str = DEFAULT_OWNER) -> Document:
        self.get(doc_id, owner)
        document = self._repository.request_summary(doc_id, self._clock(), correlation_id)
        self._send(document, correlation_id)
        self._metrics.count("ResummarizeRequested")
        logger.info(
            "re-summarize requested",
            extra={"document_id": doc_id, "generation": document.generation},
        )
        return document

    def _live(self, document: Document | None) -> Document | None:
        """None for an expired document: DynamoDB's TTL deletes it only eventually."""
        if document is None or document.expired(self._clock()):
            return None
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
