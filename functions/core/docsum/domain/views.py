"""A document as the API shows it: the API's responses, the completion events and the webhook
payloads all use this one shape (no text, no internal bookkeeping)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from docsum.domain.document import (
    Document,
    Extraction,
    GroundingStats,
    Progress,
    SourceInfo,
    Status,
    SummaryMethod,
    SummarySentence,
)
from docsum.domain.options import SummaryOptions


class DocumentOut(BaseModel):
    id: str
    title: str | None
    status: Status
    summary: str | None
    summary_chars: int | None
    model: str | None
    created_at: datetime
    updated_at: datetime
    summarized_at: datetime | None
    attempts: int
    error: str | None
    generation: int
    text_chars: int
    prompt_tokens: int | None
    completion_tokens: int | None
    model_seconds: float | None
    llm_calls: int | None = Field(description="Model calls the summary took (retries included)")
    progress: Progress | None
    source: SourceInfo | None = Field(default=None, description="The file, for file submissions")
    extraction: Extraction | None = Field(
        default=None,
        description="How the file's text was obtained (its own text layer, OCR or both), once "
        "it was extracted",
    )
    callback_url: str | None = None
    options: SummaryOptions = Field(description="What the summary was asked to be")
    language: str | None = Field(
        description="The document's language (ISO 639-1), detected when it is summarized"
    )
    summary_verbatim: bool = Field(
        description="The summary is the text itself: it fits the budget and the model wrote "
        "nothing shorter that passed the checks"
    )
    method: SummaryMethod | None = Field(
        default=None,
        description="abstractive: written by the model; extractive: the document's own most "
        "central sentences, stored when no answer of the model could be used",
    )
    sentences: list[SummarySentence] = Field(
        default_factory=list,
        description="Each sentence of the summary (each bullet) with the 1-3 passages of the "
        "extracted text that support it (offsets for GET /documents/{id}/text, page)",
    )
    grounding: GroundingStats | None = Field(
        default=None, description="How many sentences are supported, the lowest support"
    )
    note: str | None = Field(
        default=None, description="What the reader should know about the summary (not an error)"
    )

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        shown = set(cls.model_fields) & set(Document.model_fields)
        return cls(
            **document.model_dump(include=shown),
            summary_chars=len(document.summary) if document.summary is not None else None,
            extraction=document.source.extraction if document.source else None,
        )
