"""A document as its owner reads it: another owner's is missing, an expired one gone, a lapsed
lease or upload URL said; a listing; a span of the extracted text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from docsum.domain.document import (
    DEFAULT_OWNER,
    TEXT_SPAN_MAX_CHARS,
    Document,
    DocumentPage,
    Status,
)
from docsum.domain.errors import LEASE_EXPIRED, DocumentNotFound, InvalidTextRange, TextMissing
from docsum.ports.repository import DocumentRepository
from docsum.ports.storage import TextStore

# An `uploading` record outlives its URL by this much: the file's S3 event may come late.
UPLOAD_RECORD_GRACE_SECONDS = 3600


class DocumentReader:
    """The read side of `DocumentService` (which extends it with the writes)."""

    def __init__(
        self, store: TextStore, repository: DocumentRepository, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._repository = repository
        self._clock = clock

    def get(self, doc_id: str, owner: str = DEFAULT_OWNER) -> Document:
        """Another owner's document is reported missing, exactly like an absent one."""
        document = self._live(self._repository.get(doc_id))
        if document is None or document.owner != owner:
            raise DocumentNotFound(doc_id)
        if document.lease_expired(self._clock()):
            # Still `processing` until the sweeper or a redelivery takes it over; say so.
            document.error = LEASE_EXPIRED
        return self._expired_upload(document) or document

    def list(
        self,
        owner: str = DEFAULT_OWNER,
        limit: int = 20,
        cursor: str | None = None,
        status: Status | None = None,
    ) -> DocumentPage:
        return self._repository.list_owned(owner, limit, cursor, status, self._clock())

    def text_span(self, doc_id: str, start: int, end: int, owner: str = DEFAULT_OWNER) -> str:
        """Characters `start` to `end` of the owner's extracted text (what a summary sentence
        cites). Another owner's document is missing, whatever the range."""
        if end <= start:
            raise InvalidTextRange("end", f"end ({end}) must be greater than start ({start})")
        if end - start > TEXT_SPAN_MAX_CHARS:
            raise InvalidTextRange("end", f"at most {TEXT_SPAN_MAX_CHARS} characters at a time")
        document = self.get(doc_id, owner)
        if end > document.text_chars:
            raise InvalidTextRange(
                "end", f"end ({end}) is past the text's {document.text_chars} characters"
            )
        try:
            text = self._store.get_text(document.text_key)
        except TextMissing:  # deleted meanwhile: gone, like the document
            raise DocumentNotFound(doc_id) from None
        return text[start:end]

    def _live(self, document: Document | None) -> Document | None:
        """None for an expired document: DynamoDB's TTL deletes it only eventually."""
        if document is None or document.expired(self._clock()):
            return None
        return document

    def _expired_upload(self, document: Document) -> Document | None:
        """An upload whose URL has expired without the file arriving reads as `failed` (its
        record's expiry, an hour later, then removes it)."""
        if document.status is not Status.UPLOADING or document.expires_at is None:
            return None
        url_expired = document.expires_at - UPLOAD_RECORD_GRACE_SECONDS
        if self._clock().timestamp() <= url_expired:
            return None
        when = datetime.fromtimestamp(url_expired, UTC).isoformat().replace("+00:00", "Z")
        return document.model_copy(
            update={
                "status": Status.FAILED,
                "error": f"the file did not arrive before the upload URL expired at {when}",
            }
        )
