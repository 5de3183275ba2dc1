"""The small interfaces the domain needs. AWS and Ollama adapters implement them in
`docsum.adapters`; tests use the in-memory fakes in `tests/fakes.py`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from docsum.domain.document import (
    Document,
    DocumentPage,
    Progress,
    Source,
    Status,
    SummarizeRequest,
    Summary,
    WebhookMessage,
)


class MetricsRecorder(Protocol):
    """Where use cases record their metrics (CloudWatch EMF through Powertools in Lambda)."""

    def count(self, name: str, value: float = 1) -> None: ...

    def seconds(self, name: str, value: float) -> None: ...


class TextStore(Protocol):
    def put_text(self, key: str, text: str) -> None: ...

    def get_text(self, key: str) -> str:
        """Raises `TextMissing` when the object does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object, every stored version of it included; absent is fine."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str, max_bytes: int) -> bytes:
        """Raises `TextMissing` when the object does not exist and `FileTooLarge` (before
        reading it) when it has more than `max_bytes`."""
        ...


@dataclass(frozen=True)
class PresignedPost:
    """A browser-style S3 POST: send `fields` and then the file as form data to `url`."""

    url: str
    fields: dict[str, str]


class UploadSigner(Protocol):
    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        """An upload of exactly this key whose policy admits 1..`max_bytes` bytes of
        `content_type`, valid for `expires_in` seconds."""
        ...


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

    def request_summary(self, document_id: str, now: datetime, correlation_id: str) -> Document:
        """Start a new generation (re-summarize): status `queued`, attempts 0. The current
        summary stays readable. Raises `DocumentNotFound`."""
        ...

    def mark_enqueued(self, document_id: str, generation: int, now: datetime) -> None: ...

    def mark_uploaded(
        self, document_id: str, now: datetime, expires_at: int | None
    ) -> Document | None:
        """`uploading` → `queued` (the file arrived): the upload's expiry becomes the
        retention's `expires_at` (None: kept). None when the document was not `uploading` (a
        repeated S3 event)."""
        ...

    def save_extraction(
        self, document_id: str, generation: int, text_chars: int, title: str | None, source: Source
    ) -> None:
        """Record the extracted text's size and what the file said about itself; the title
        only when the client gave none."""
        ...

    def claim(
        self, document_id: str, generation: int, now: datetime, lease_until: datetime
    ) -> Document | None:
        """`processing` for this generation, unless it is stale, already summarized or leased
        by another live worker (then None)."""
        ...

    def save_progress(
        self, document_id: str, generation: int, progress: Progress, chunk_summaries: dict[str, str]
    ) -> bool:
        """False when the document is no longer this generation's, `processing` (deleted, or
        asked again): the work in flight is then for nothing."""
        ...

    def release(
        self,
        document_id: str,
        generation: int,
        now: datetime,
        reason: str,
        *,
        retry_at: datetime | None = None,
        failed: bool = True,
        held: bool = True,
    ) -> Document | None:
        """Back to `queued` with `reason`; its message is due back at `retry_at` (default now).
        `failed`: a transient failure, which starts the retry window (`retrying_since`) if not
        started. `held`: the caller holds the lease (`processing`); else the document must be
        `queued` (a retry decided without claiming it). None when the condition fails."""
        ...

    def requeue(
        self,
        document_id: str,
        generation: int,
        seen: Document,
        now: datetime,
        next_due: datetime,
        reason: str | None,
    ) -> Document | None:
        """The sweeper's recovery: back to `queued` (a new message follows), due at `next_due`,
        only if the document is still as the sweeper `seen` it (same status and `due_at`). A
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
        generation's summary is already stored (False: a late duplicate never overwrites)."""
        ...

    def mark_failed(self, document_id: str, generation: int, reason: str, now: datetime) -> bool:
        """`failed` with the reason, unless the generation is stale or already done."""
        ...


class RateLimiter(Protocol):
    def hit(self, client: str, now: datetime) -> int | None:
        """Count one request of `client`; seconds until it may retry when over its limit."""
        ...


class WorkQueue(Protocol):
    def send(self, request: SummarizeRequest) -> None: ...

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again after `delay_seconds` (retry backoff)."""
        ...

    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message that can never be processed in the dead-letter queue."""
        ...


class CompletionNotifier(Protocol):
    def document_finished(self, document: Document) -> None:
        """Tell whoever listens that `document` ended `done` or `failed`. Best effort: it never
        raises, so a notification problem cannot fail or delay a summary."""
        ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """One event on the bus (EventBridge's default bus, source `docsum`)."""
        ...


class WebhookQueue(Protocol):
    def enqueue(self, message: WebhookMessage) -> None: ...

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: bytes = b""  # at most `webhook_max_response_bytes` of it
    location: str | None = None  # the `Location` header as sent (a redirect's target)


class WebhookSender(Protocol):
    def post(
        self, url: str, addresses: tuple[str, ...], body: bytes, headers: Mapping[str, str]
    ) -> WebhookResponse:
        """POST to `url`, connecting only to one of `addresses` (checked beforehand, so a DNS
        answer that changes after the check is never used); never follows a redirect. Raises
        `WebhookSendFailed` on connection errors and timeouts."""
        ...


class CallbackProbe(Protocol):
    def probe(self, url: str, addresses: tuple[str, ...]) -> WebhookResponse:
        """A HEAD to `url` at submission, connecting only to one of `addresses`, like a
        delivery; never follows a redirect, reads no body. Raises `WebhookSendFailed` when no
        address answers in time."""
        ...


@dataclass(frozen=True)
class ChatCall:
    """One chat completion request, with every option explicit."""

    system: str
    user: str
    num_ctx: int
    num_predict: int
    temperature: float
    seed: int | None = None
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    model_seconds: float
    done_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class LanguageModel(Protocol):
    name: str

    def chat(self, call: ChatCall) -> ChatAnswer:
        """Raises `LLMError` (transient or not) or `ContextOverflow`."""
        ...
