"""The document record and what it holds: status, progress, summary, source file; the ids'
and names' patterns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from docsum.domain.files import FileKind
from docsum.domain.options import SummaryOptions

DOCUMENT_ID_PATTERN = r"^[0-9a-f]{32}$"
# A client's name (from its `name:token` entry): also part of S3 keys, hence the narrow alphabet.
CLIENT_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
DEFAULT_OWNER = "default"
# Presigned uploads land at UPLOADS_PREFIX + document id; their S3 events start the work.
UPLOADS_PREFIX = "uploads/"
CALLBACK_URL_MAX_CHARS = 2048
# At most this much of a document's text per GET /documents/{id}/text (a cited passage is at
# most a few hundred characters; the whole text is never handed out in one answer).
TEXT_SPAN_MAX_CHARS = 10_000
# The request field, for every way of submitting (JSON, multipart, uploads): the service
# checks the URL itself (docsum.push.callbacks) and answers 422 with the reason.
CallbackUrlField = Annotated[
    StrictStr | None,
    Field(
        default=None,
        min_length=1,
        max_length=CALLBACK_URL_MAX_CHARS,
        description=(
            "Optional https URL that gets a signed POST (Standard Webhooks) when the document "
            "ends done or failed; it must resolve to public addresses only and answer "
            "without a redirect"
        ),
        examples=["https://93.184.216.34/docsum"],
    ),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def retention_end(now: datetime, retention_days: int) -> int | None:
    """`expires_at` of a document whose retention starts `now` (None: kept forever)."""
    if not retention_days:
        return None
    return int((now + timedelta(days=retention_days)).timestamp())


class Status(StrEnum):
    UPLOADING = "uploading"  # a presigned upload was handed out; the file has not arrived yet
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class SummaryMethod(StrEnum):
    """How the stored summary was made: written by the model, or the document's own sentences
    (when no answer of the model could be used, see `docsum.summary.extractive`)."""

    ABSTRACTIVE = "abstractive"
    EXTRACTIVE = "extractive"


class Citation(BaseModel):
    """A passage that supports a summary sentence: offsets into the extracted text (what
    `GET /documents/{id}/text?start=&end=` returns) and its page where the source has pages."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    page: int | None = Field(default=None, ge=1)


class SummarySentence(BaseModel):
    """A sentence of the summary (a bullet in bullet format) and the 1-3 passages it cites."""

    text: str
    support: float = Field(ge=0, le=1, description="Share of its content found in its sources")
    sources: list[Citation]


class GroundingStats(BaseModel):
    """How well the stored summary is supported by the document."""

    supported: int = Field(ge=0, description="Sentences with enough support (all stored ones)")
    total: int = Field(ge=0)
    min_support: float = Field(ge=0, le=1)
    dropped: int = Field(default=0, ge=0, description="Unsupported sentences left out")


class Progress(BaseModel):
    """Where a long (chunked) summarization stands."""

    chunks_done: int = 0
    chunks_total: int = 0


class Summary(BaseModel):
    """A finished summary and what it cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    model_seconds: float
    llm_calls: int = 1
    # The document's detected language (ISO 639-1), when the detector was sure enough.
    language: str | None = None
    # True: the text itself, because the model could not write anything shorter that passed
    # the guard (see `docsum.summary.guard`); only ever for a text that fits the budget.
    verbatim: bool = False
    # What the guard did, e.g. {"passed": 3, "retry_passed": 1, "check_repetition": 1}: metrics.
    guard_outcomes: dict[str, int] = Field(default_factory=dict)
    method: SummaryMethod = SummaryMethod.ABSTRACTIVE
    sentences: list[SummarySentence] = Field(default_factory=list)
    grounding: GroundingStats | None = None
    # Something the reader should know (e.g. an extractive summary in the document's language
    # where another was asked for); never an error.
    note: str | None = None


class Extraction(BaseModel):
    """How a file's text was obtained."""

    method: Literal["text", "ocr", "mixed"] = Field(
        description="text: the file's own text; ocr: read from page images; mixed: a PDF whose "
        "text pages kept their text layer and whose scanned pages were OCR'd"
    )
    pages: int | None = Field(default=None, description="Pages, for formats that have them")
    ocr_pages: int = Field(default=0, description="Pages read by OCR")
    confidence: float | None = Field(
        default=None, description="OCR's mean word confidence (0-1), when OCR found words"
    )


class SourceInfo(BaseModel):
    """The file or web page a document came from (absent for JSON text), as the API shows it."""

    model_config = ConfigDict(use_enum_values=True)

    kind: FileKind | None = Field(
        default=None, description="The format, decided from the bytes (a page: once fetched)"
    )
    url: str | None = Field(default=None, description="The web page, for URL submissions")
    fetched_generation: int | None = Field(
        default=None,
        description="A page: the generation whose fetch the text is (re-summarize fetches again)",
    )
    filename: str | None = None
    bytes: int | None = Field(default=None, description="Size of the file as submitted")
    pages: int | None = Field(default=None, description="Pages, for formats that have them")
    content_type: str | None = Field(default=None, description="The type the client declared")


class Source(SourceInfo):
    """The file or web page a document came from, as stored: with what only the service needs
    and how its text was obtained (the API shows that as the document's `extraction`)."""

    # Page map: offset in the extracted text where page i+1 starts (citations name pages; the
    # API shows the pages there, not the map: it can be thousands of numbers).
    page_starts: list[int] | None = None
    extraction: Extraction | None = None
    # A web page's title is the page's own (the client gave none): the next fetch's replaces it.
    title_from_page: bool = False


class Document(BaseModel):
    """One submitted document, as stored in DynamoDB (the text itself lives in S3).

    `generation` counts summarization requests: the first POST is 1, each re-summarize adds 1.
    Queue messages carry the generation they were sent for, so stale or duplicate deliveries
    can be recognised, and `summary_generation` says which request the stored summary answers.
    """

    model_config = ConfigDict(validate_assignment=True)

    id: str
    owner: str = DEFAULT_OWNER
    title: str | None = None
    # Where the client wants a signed POST when the document ends (checked: docsum.push.callbacks).
    callback_url: str | None = None
    status: Status = Status.QUEUED
    text_key: str
    text_chars: int
    options: SummaryOptions = Field(default_factory=SummaryOptions)
    language: str | None = None  # detected when summarized
    summary_verbatim: bool = False
    # The stored summary's method, sentences with their citations, and grounding (None / empty
    # for a summary stored before summaries were grounded).
    method: SummaryMethod | None = None
    sentences: list[SummarySentence] = Field(default_factory=list)
    grounding: GroundingStats | None = None
    note: str | None = None
    created_at: datetime
    updated_at: datetime
    enqueued_at: datetime
    generation: int = 1
    attempts: int = 0
    # Claims since an attempt last ended on its own (stored, released, paused): the ones
    # before the current claim are workers that died on this document (docsum.worker).
    unfinished_attempts: int = 0
    error: str | None = None
    correlation_id: str | None = None
    processing_until: datetime | None = None
    # When the sweeper should look at a document nobody has touched since (non-final only):
    # `queued`: when its message is expected back on the queue; `processing`: the lease's end.
    due_at: datetime | None = None
    # First transient failure of this generation: retries go on until `retry_window_seconds`
    # after it (time, not receive counts, decides when to give up).
    retrying_since: datetime | None = None
    summary: str | None = None
    summary_generation: int = 0
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model_seconds: float | None = None
    llm_calls: int | None = None  # model calls the stored summary took (guard retries included)
    summarized_at: datetime | None = None
    progress: Progress | None = None
    # Partial results of a chunked summarization, kept so a retry does not redo finished chunks.
    chunk_summaries: dict[str, str] = Field(default_factory=dict)
    # Files: the original bytes in S3; text_key holds the extracted text once text_chars > 0.
    source: Source | None = None
    original_key: str | None = None
    # The S3 version of the first file posted to an upload form: the one read; later posts
    # to the same form are deleted (a presigned POST can be replayed until it expires).
    upload_version: str | None = None
    # Retention: epoch seconds (DynamoDB TTL's format) after which the document is gone. TTL
    # deletes lazily (and moto never does), so reads treat an expired document as absent. An
    # `uploading` document gets one too: a file that never arrives leaves no record behind.
    expires_at: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in (Status.DONE, Status.FAILED)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now.timestamp()

    @property
    def object_keys(self) -> list[str]:
        """S3 objects this document stores (a delete removes those no other document uses)."""
        return [self.text_key] + ([self.original_key] if self.original_key else [])

    def lease_expired(self, now: datetime) -> bool:
        """`processing`, but the worker's lease has run out: it stopped without a word."""
        return (
            self.status is Status.PROCESSING
            and self.processing_until is not None
            and self.processing_until < now
        )


class DocumentPage(BaseModel):
    """One page of an owner's documents, newest first; `next_cursor` (opaque) asks for the
    next page, None on the last."""

    items: list[Document]
    next_cursor: str | None = None
