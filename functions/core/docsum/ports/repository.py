"""The document records (DynamoDB): every state change a conditional write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from docsum.domain.document import Document, DocumentPage, Progress, Source, Status, Summary


@dataclass(frozen=True)
class Release:
    """How a document goes back to `queued` (`DocumentRepository.release`): with `reason`,
    its message due back at `retry_at` (None: now). `failed`: a transient failure, which
    starts the retry window (`retrying_since`) if not started. `held`: the caller holds the
    lease (`processing`): its attempt ended on its own, so the count of workers that died on
    the document (`unfinished_attempts`) starts again; else the document must be `queued` (a
    retry decided without claiming it)."""

    reason: str
    retry_at: datetime | None = None
    failed: bool = True
    held: bool = True


class DocumentRepository(Protocol):
    """DynamoDB semantics: every state change is a conditional write, so concurrent or late
    deliveries cannot undo each other's work."""

    def create(self, document: Document) -> bool:
        """Insert if no document has this id (a deleted one's tombstone does not count); False
        when one already exists."""
        ...

    def get(self, document_id: str) -> Document | None:
        """None when absent or deleted (expiry is the caller's business: it has the clock)."""
        ...

    def delete(self, document_id: str, now: datetime) -> bool:
        """Replace the record by a tombstone that keeps only the id, so the worker's
        conditional writes can never recreate or update it and its late messages are known
        for what they are. False when there was no document."""
        ...

    def was_deleted(self, document_id: str) -> bool: ...

    def list_owned(
        self, owner: str, limit: int, cursor: str | None, status: Status | None, now: datetime
    ) -> DocumentPage:
        """The owner's live documents, newest first, from the (owner, created_at) index,
        starting after the position `cursor` names (see `docsum.domain.paging`). Raises
        `InvalidCursor` for a malformed cursor."""
        ...

    def text_in_use(self, text_key: str) -> bool:
        """Whether any document still refers to this S3 object."""
        ...

    def active_work(self, owner: str, now: datetime) -> tuple[int, int]:
        """(documents, characters) of `owner` uploading, queued or processing, unexpired."""
        ...

    def request_summary(self, document_id: str, now: datetime, correlation_id: str) -> Document:
        """Start a new generation (re-summarize): status `queued`, attempts 0. The current
        summary stays readable. Raises `DocumentNotFound`."""
        ...

    def mark_enqueued(self, document_id: str, generation: int, now: datetime) -> None: ...

    def mark_uploaded(
        self, document_id: str, now: datetime, expires_at: int | None, version: str | None
    ) -> Document | None:
        """`uploading` → `queued` (the file arrived): the upload's expiry becomes the
        retention's `expires_at` (None: kept) and `version`, the S3 version that arrived, the
        one `upload_version` keeps. None when the document was not `uploading` (a repeated
        S3 event, or a later post to the same form)."""
        ...

    def save_extraction(
        self, document_id: str, generation: int, text_chars: int, title: str | None, source: Source
    ) -> None:
        """Record the extracted text's size and what the file said about itself, and `title`
        (None keeps the stored one): the caller keeps a title the client gave."""
        ...

    def claim(
        self, document_id: str, generation: int, now: datetime, lease_until: datetime
    ) -> Document | None:
        """`processing` for this generation, unless it is stale, final (`done` or `failed`:
        only a new generation starts work again) or leased by another live worker (then None).
        Counts the attempt (`attempts`, `unfinished_attempts`) on the record itself."""
        ...

    def save_progress(
        self, document_id: str, generation: int, progress: Progress, chunk_summaries: dict[str, str]
    ) -> bool:
        """False when the document is no longer this generation's, `processing` (deleted, or
        asked again): the work in flight is then for nothing."""
        ...

    def release(
        self, document_id: str, generation: int, now: datetime, how: Release
    ) -> Document | None:
        """Back to `queued` as `how` says (see `Release`). None when the condition fails."""
        ...

    def requeue(
        self, seen: Document, now: datetime, next_due: datetime, reason: str | None
    ) -> Document | None:
        """The sweeper's recovery: back to `queued` (a new message follows), due at `next_due`,
        only if the document is still as the sweeper `seen` it (same generation, status and
        `due_at`). A
        `reason` (a worker that died) is shown in `error` and starts the retry window."""
        ...

    def overdue(self, now: datetime, stuck_before: datetime, limit: int) -> list[Document]:
        """Up to `limit` non-final documents nobody has touched in time: `processing` with a
        lease that ended before `now`, `queued` with a message due before `stuck_before`."""
        ...

    def save_summary(
        self, document_id: str, generation: int, summary: Summary, now: datetime
    ) -> bool:
        """Store the summary and mark `done`, unless a newer generation was requested or this
        generation's summary is already stored or it failed (False: a late duplicate never
        overwrites, an announced failure never turns `done`)."""
        ...

    def mark_failed(self, document_id: str, generation: int, reason: str, now: datetime) -> bool:
        """`failed` with the reason, unless the generation is stale or already done; when its
        failures began (`retrying_since`) stays on the record."""
        ...
