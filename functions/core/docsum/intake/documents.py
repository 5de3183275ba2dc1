"""Ingest-side use cases: submit a text, a page or a file, start an upload, delete and
re-summarize (the reads: `docsum.intake.reading`)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from docsum.domain.document import (
    DEFAULT_OWNER,
    UPLOADS_PREFIX,
    Document,
    Source,
    Status,
    retention_end,
    utc_now,
)
from docsum.domain.errors import (
    CallbackUrlRefused,
    DocumentNotFound,
    DocumentTooLarge,
    FileTooLarge,
    InvalidDocument,
    UploadPending,
)
from docsum.domain.files import MEDIA_TYPES
from docsum.domain.ids import (
    bytes_digest,
    content_digest,
    document_id,
    original_key,
    text_key,
    url_digest,
)
from docsum.domain.messages import SummarizeRequest
from docsum.extract.kinds import UnsupportedFileType, detect_kind, kind_of_media_type
from docsum.intake.client_share import ClientShare, ShareLimits
from docsum.intake.reading import UPLOAD_RECORD_GRACE_SECONDS, DocumentReader
from docsum.intake.submission import Submission
from docsum.platform.observability import EMF_METRICS, logger
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.push import CallbackProbe
from docsum.ports.queues import WorkQueue
from docsum.ports.repository import DocumentRepository
from docsum.ports.storage import PresignedPost, TextStore, UploadSigner
from docsum.push.callbacks import CallbackPolicy, check_at_submission

# Used only when no secret is configured (unit tests, a bare local run): ids are then as
# guessable as they were before ownership, which is why the template always provides one.
DEVELOPMENT_ID_SECRET = b"docsum-development-only"


@dataclass(frozen=True)
class IntakeLimits(ShareLimits):
    """The settings submissions answer to: sizes, upload URLs, retention, re-sends, and (the
    fields of `ShareLimits`) each client's share of the queue."""

    max_document_chars: int
    max_title_chars: int
    max_direct_upload_bytes: int
    max_upload_bytes: int
    upload_url_seconds: int
    retention_days: int
    requeue_after_seconds: int


@dataclass(frozen=True)
class Accepted:
    document: Document
    created: bool  # False: the same text was already submitted (same id, no new work)


@dataclass(frozen=True)
class Upload:
    """A document waiting for its file, and how to send the file straight to S3."""

    document: Document
    post: PresignedPost
    expires_at: datetime


class DocumentService(DocumentReader):
    """The reads (`DocumentReader`) and every change. Write order for a new document: S3
    text, then the DynamoDB record (conditional), then the SQS message. A crash after the text
    leaves only an unreferenced object; a crash after the record leaves it `queued` without a
    message, which the next submission of the same text re-sends (see `_requeue_if_stuck`). A
    message never names a document that does not exist."""

    def __init__(
        self,
        store: TextStore,
        repository: DocumentRepository,
        queue: WorkQueue,
        settings: IntakeLimits,
        clock: Callable[[], datetime] = utc_now,
        metrics: MetricsRecorder = EMF_METRICS,
        id_secret: Callable[[], bytes] = lambda: DEVELOPMENT_ID_SECRET,
        uploads: UploadSigner | None = None,
        *,
        callbacks: CallbackPolicy | None = None,
        callback_probe: CallbackProbe | None = None,
    ) -> None:
        """`id_secret` is called once, at the first submission (reads need no key).
        `callback_probe`: refuses redirecting callback URLs at submission (None: no probe)."""
        super().__init__(store, repository, clock)
        self._uploads = uploads
        self._queue = queue
        self._settings = settings
        self._metrics = metrics
        self._share = ClientShare(settings, repository, clock, metrics)
        self._id_secret = functools.cache(id_secret)
        # None: the strict policy (https, public addresses only); wiring passes the configured one.
        self._callbacks = callbacks or CallbackPolicy(allow_loopback_http=False)
        self._callback_probe = callback_probe

    def submit(self, text: str, submission: Submission) -> Accepted:
        """A document is (owner, content, summary options): the same again is a duplicate; the
        same text with other options is another document sharing the stored text. The
        callback URL is checked here (`CallbackUrlRefused`) and again at each delivery. A
        duplicate submission returns the existing document as it is, callback included (the
        same for files and uploads)."""
        text = text.strip()
        self._check_title(submission.title)
        if len(text) > self._settings.max_document_chars:
            raise DocumentTooLarge(len(text), self._settings.max_document_chars)
        self._check_callback(submission.callback_url)
        digest = content_digest(text)
        key = text_key(submission.owner, digest)
        return self._accept_content(
            submission,
            digest,
            lambda: self._store.put_text(key, text),
            "document accepted",
            {"chars": len(text)},
            text_key=key,
            text_chars=len(text),
        )

    def submit_url(self, url: str, submission: Submission) -> Accepted:
        """A web page: the worker fetches it (docsum.extract.fetch). The URL is checked here
        against the callbacks' address policy (a refused one is a 422), and again, with every
        redirect, when the worker fetches it. A document is (owner, URL, options): the same
        again is the same document; re-summarizing it fetches the page again."""
        self._check_title(submission.title)
        try:
            self._callbacks.check(url)
        except CallbackUrlRefused as exc:
            raise InvalidDocument("url", f"address not allowed: {exc}") from exc
        self._check_callback(submission.callback_url)
        digest = url_digest(url)
        return self._accept_content(
            submission,
            digest,
            lambda: None,  # nothing to store: the worker fetches the page
            "page accepted",
            {"url": url[:200]},
            text_key=text_key(submission.owner, digest),
            text_chars=0,
            source=Source(url=url),
        )

    def submit_file(
        self, data: bytes, filename: str | None, content_type: str | None, submission: Submission
    ) -> Accepted:
        """A file sent with the request: stored as it came, its text extracted by the worker.
        The same bytes are the same document. Raises `UnsupportedFileType` (decided from the
        bytes) and `FileTooLarge`."""
        self._check_title(submission.title)
        if len(data) > self._settings.max_direct_upload_bytes:
            raise FileTooLarge(
                len(data), self._settings.max_direct_upload_bytes, "MAX_DIRECT_UPLOAD_BYTES"
            )
        kind = detect_kind(data, filename=filename, declared_type=content_type)
        self._check_callback(submission.callback_url)
        digest = bytes_digest(data)
        stored_at = original_key(submission.owner, digest)
        return self._accept_content(
            submission,
            digest,
            lambda: self._store.put_bytes(stored_at, data, MEDIA_TYPES[kind]),
            "file accepted",
            {"bytes": len(data), "kind": kind},
            text_key=text_key(submission.owner, digest),
            text_chars=0,
            source=Source(kind=kind, filename=filename, bytes=len(data), content_type=content_type),
            original_key=stored_at,
        )

    def create_upload(
        self, filename: str, content_type: str, size: int, submission: Submission
    ) -> Upload:
        """A document in `uploading` and a presigned POST for its file. The file's content is
        unknown yet, so the id is random (not a keyed content hash). The S3 event of the
        arriving file starts the processing; a file that never arrives expires with its
        record. The record carries the callback URL, so the worker that finishes the document
        notifies exactly as for any other."""
        if self._uploads is None:
            raise RuntimeError("this service was built without an upload signer")
        self._check_title(submission.title)
        kind = kind_of_media_type(content_type)
        if kind is None:
            raise UnsupportedFileType(f"content type {content_type}")
        if size > self._settings.max_upload_bytes:
            raise FileTooLarge(size, self._settings.max_upload_bytes)
        self._check_callback(submission.callback_url)
        self._share.check(submission.owner, 0)
        doc_id = uuid.uuid4().hex
        key = f"{UPLOADS_PREFIX}{doc_id}"
        now = self._clock()
        expires_at = now + timedelta(seconds=self._settings.upload_url_seconds)
        post = self._uploads.presign_post(
            key, content_type, size, self._settings.upload_url_seconds
        )
        document = submission.record(
            doc_id,
            now,
            status=Status.UPLOADING,
            text_key=text_key(submission.owner, doc_id),  # the content's digest is not known yet
            text_chars=0,
            source=Source(kind=kind, filename=filename, bytes=size, content_type=content_type),
            original_key=key,
            expires_at=int(expires_at.timestamp()) + UPLOAD_RECORD_GRACE_SECONDS,
        )
        self._repository.create(document)
        self._metrics.count("UploadsStarted")
        logger.info("upload started", extra={"document_id": doc_id, "bytes": size})
        return Upload(document, post, expires_at)

    def _accept_content(
        self,
        submission: Submission,
        digest: str,
        store: Callable[[], None],
        event: str,
        detail: dict[str, object],
        **fields: Any,
    ) -> Accepted:
        """The one accept path of content sent with the request (text or file): a live
        document with the same id is a duplicate; else `store` keeps the content, then the
        record is created and the message sent (see the class doc for the order). A page's
        content is fetched by the worker: its `store` does nothing."""
        options_key = submission.options.key
        doc_id = document_id(self._id_secret(), submission.owner, digest, options_key)
        existing = self._live(self._repository.get(doc_id))
        if existing is not None:
            return self._duplicate(existing)
        self._share.check(submission.owner, fields["text_chars"])  # a file's: once extracted
        store()
        now = self._clock()
        expires_at = retention_end(now, self._settings.retention_days)
        document = submission.record(doc_id, now, due_at=now, expires_at=expires_at, **fields)
        return self._accept(document, submission.correlation_id, event, **detail)

    def _accept(
        self, document: Document, correlation_id: str, event: str, **detail: object
    ) -> Accepted:
        """Records a new document and queues it; a concurrent submission of the same one may
        have recorded it first: then it is a duplicate."""
        if not self._repository.create(document):
            return self._duplicate(self.get(document.id, document.owner))
        self._send(document, correlation_id)
        self._metrics.count("DocumentsAccepted")
        logger.info(event, extra={"document_id": document.id, **detail})
        return Accepted(document, created=True)

    def _check_callback(self, url: str | None) -> None:
        """After the cheap checks of a submission: the probe may take a request's time."""
        if url is not None:
            check_at_submission(self._callbacks, self._callback_probe, url)

    def _check_title(self, title: str | None) -> None:
        if title is not None and len(title) > self._settings.max_title_chars:
            raise InvalidDocument(
                "title", f"at most {self._settings.max_title_chars} characters, got {len(title)}"
            )

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
        current = self.get(doc_id, owner)  # an upload past its URL's expiry reads `failed`
        stored = self._repository.get(doc_id)
        if stored is not None and stored.status is Status.UPLOADING:
            raise UploadPending(doc_id)  # a document never goes back to `uploading`
        if current.finished:  # work again; one still queued or in progress adds nothing
            self._share.check(owner, current.text_chars)
        document = self._repository.request_summary(doc_id, self._clock(), correlation_id)
        self._send(document, correlation_id)
        self._metrics.count("ResummarizeRequested")
        logger.info(
            "re-summarize requested",
            extra={"document_id": doc_id, "generation": document.generation},
        )
        return document

    def _duplicate(self, document: Document) -> Accepted:
        self._metrics.count("DuplicatesDetected")
        logger.info("duplicate document", extra={"document_id": document.id})
        self._requeue_if_stuck(document)
        return Accepted(document, created=False)

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
