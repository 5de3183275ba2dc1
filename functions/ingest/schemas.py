"""What goes over the wire: request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime

from docsum.models import Document, Progress, Status
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator


class DocumentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"text": "The quick brown fox jumps over the lazy dog.", "title": "Fox"}]
        }
    )

    text: StrictStr = Field(min_length=1, description="The document; whitespace-only is rejected")
    # The length limit is the domain's (MAX_TITLE_CHARS), checked by the service.
    title: StrictStr | None = Field(default=None, description="At most MAX_TITLE_CHARS characters")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must contain non-whitespace characters")
        return value


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

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        shown = set(cls.model_fields) & set(Document.model_fields)
        return cls(
            **document.model_dump(include=shown),
            summary_chars=len(document.summary) if document.summary is not None else None,
        )


class DocumentList(BaseModel):
    items: list[DocumentOut] = Field(description="The caller's documents, newest first")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = Field(description="ok: every AWS dependency answers")
    checks: dict[str, str] = Field(description="Each dependency: ok, or what failed")
