"""Completion push: when a document ends `done` or `failed`, an EventBridge event for whoever
subscribes, and a webhook notification queued for the client's `callback_url` (sent by the
webhook function, see `docsum.push.webhooks`).

Both happen after the document's final state is stored and are best effort: a failing bus or
queue is logged and counted, never turned into a failed or retried summary. Notifications are
at least once (a redelivered message of a finished document sends them again); the webhook id
is derived from the document, generation and outcome, so receivers dedupe repeats.
"""

from __future__ import annotations

from docsum.domain.document import Document, Status
from docsum.domain.messages import WebhookMessage
from docsum.domain.views import DocumentOut
from docsum.platform.observability import EMF_METRICS, logger
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.push import CompletionNotifier, EventPublisher
from docsum.ports.queues import WebhookQueue
from docsum.ports.repository import DocumentRepository

EVENT_SOURCE = "docsum"
DETAIL_TYPES = {Status.DONE: "Document Summarized", Status.FAILED: "Document Failed"}
WEBHOOK_TYPES = {Status.DONE: "document.summarized", Status.FAILED: "document.failed"}


def webhook_id(document: Document) -> str:
    return f"msg_{document.id}_{document.generation}_{document.status.value}"


class CompletionPublisher:
    """The `CompletionNotifier` of the summarize function."""

    def __init__(
        self,
        events: EventPublisher,
        webhooks: WebhookQueue,
        metrics: MetricsRecorder = EMF_METRICS,
    ) -> None:
        self._events = events
        self._webhooks = webhooks
        self._metrics = metrics

    def document_finished(self, document: Document) -> None:
        if not document.finished:
            return
        view = DocumentOut.of(document).model_dump(mode="json")
        try:
            self._events.publish(DETAIL_TYPES[document.status], view)
        except Exception:
            self._metrics.count("CompletionEventsFailed")
            logger.exception("completion event not published")
        if document.callback_url is None:
            return
        message = WebhookMessage(
            webhook_id=webhook_id(document),
            owner=document.owner,
            url=document.callback_url,
            type=WEBHOOK_TYPES[document.status],
            timestamp=document.updated_at,
            data=view,
            correlation_id=document.correlation_id,
        )
        try:
            self._webhooks.enqueue(message)
        except Exception:
            self._metrics.count("WebhooksNotQueued")
            logger.exception("webhook not queued")
        else:
            logger.info("webhook queued", extra={"webhook_id": message.webhook_id})


class NoNotifications:
    """For workers nobody listens to (tests, benchmarks)."""

    def document_finished(self, document: Document) -> None:
        return None


def notify_finished(
    repository: DocumentRepository, notifier: CompletionNotifier, document_id: str
) -> None:
    """After a document's final write: events and webhooks carry the stored final state, read
    back after the write."""
    try:
        document = repository.get(document_id)
    except Exception:
        logger.exception("finished document not read back: no notification")
        return
    if document is not None and document.finished:
        notifier.document_finished(document)
