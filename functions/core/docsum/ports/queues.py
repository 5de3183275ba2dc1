"""The work queues: summarize requests and webhook messages (SQS), with their retries and
dead-letter queues."""

from __future__ import annotations

from typing import Protocol

from docsum.domain.messages import SummarizeRequest, WebhookMessage


class WorkQueue(Protocol):
    def send(self, request: SummarizeRequest) -> None: ...

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again after `delay_seconds` (retry backoff)."""
        ...

    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message that can never be processed in the dead-letter queue."""
        ...


class WebhookQueue(Protocol):
    def enqueue(self, message: WebhookMessage) -> None: ...

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...
