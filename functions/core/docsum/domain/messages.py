"""The queue messages: a summarize request (summarize queue) and a webhook message (webhook
queue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from docsum.domain.document import DOCUMENT_ID_PATTERN


class SummarizeRequest(BaseModel):
    """The SQS message body: summarize `document_id` for request number `generation`."""

    model_config = ConfigDict(extra="ignore")

    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    generation: int = Field(ge=1)
    correlation_id: str | None = None
    enqueued_at: datetime | None = None


class WebhookMessage(BaseModel):
    """The webhook queue's message body: one notification for one receiver. `webhook_id` is
    fixed when the document ends, so every retry (and a re-sent notification of the same
    outcome) carries the same `webhook-id` header and receivers can dedupe."""

    model_config = ConfigDict(extra="ignore")

    webhook_id: str = Field(min_length=1, max_length=200)
    owner: str
    url: str
    type: str
    timestamp: datetime
    data: dict[str, Any]
    correlation_id: str | None = None

    def payload(self) -> str:
        """The body receivers get (and the signed content): Standard Webhooks' envelope."""
        return json.dumps(
            {
                "type": self.type,
                "timestamp": self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "data": self.data,
            },
            separators=(",", ":"),
        )
