"""Telling the outside world a document ended: the notifier use cases call, the event bus, and
the HTTP client that posts webhooks and probes callback URLs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from docsum.domain.document import Document


class CompletionNotifier(Protocol):
    def document_finished(self, document: Document) -> None:
        """Tell whoever listens that `document` ended `done` or `failed`. Best effort: it never
        raises, so a notification problem cannot fail or delay a summary."""
        ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """One event on the bus (EventBridge's default bus, source `docsum`)."""
        ...


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
