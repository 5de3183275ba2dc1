"""A document as the API shows it: the API's responses, the completion events and the webhook
payloads all use this one shape (no text, no internal bookkeeping)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from docsum.models import Document, Progress, Source, Status


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
    progress: Progress | None
    source: Source | None = Field(default=None, description="The file, for file submissions")
    callback_url: str | None = None

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        shown = set(cls.model_fields) & set(Document.model_fields)
        return cls(
            **document.model_dump(include=shown),
            summary_chars=len(document.summary) if document.summary is not None else None,
        )
