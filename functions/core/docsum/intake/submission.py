"""What a submission carries besides its content, whichever way it comes (JSON text, a file in
the request, a presigned upload), and the record it starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from docsum.domain.document import DEFAULT_OWNER, Document
from docsum.domain.options import SummaryOptions


@dataclass(frozen=True)
class Submission:
    correlation_id: str  # the request's id: logs, the queue message and the document carry it
    title: str | None = None
    owner: str = DEFAULT_OWNER
    options: SummaryOptions = field(default_factory=SummaryOptions)
    # Where the client wants a signed POST when the document ends (checked at submission).
    callback_url: str | None = None

    def record(self, doc_id: str, now: datetime, **fields: Any) -> Document:
        """A new document's record: what the submission carries, its times, and `fields`."""
        return Document(
            id=doc_id,
            owner=self.owner,
            title=self.title,
            options=self.options,
            created_at=now,
            updated_at=now,
            enqueued_at=now,
            correlation_id=self.correlation_id,
            callback_url=self.callback_url,
            **fields,
        )
