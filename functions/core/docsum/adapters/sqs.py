"""SQS: the summarize and webhook queues, their retry backoff and dead-letter queues."""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import ClientError

from docsum.domain.messages import SummarizeRequest, WebhookMessage


class _SqsQueue:
    """Sending with the correlation id as an attribute, retry backoff and parking: what every
    queue of the service does the same way."""

    def __init__(self, sqs: Any, queue_url: str, dead_letter_queue_url: str = "") -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def _send(self, body: str, correlation_id: str | None) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "correlation_id": {"DataType": "String", "StringValue": correlation_id or "-"}
            },
        )

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        # Best effort: without it the message simply returns after the queue's timeout.
        with contextlib.suppress(ClientError):
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=delay_seconds,
            )

    def dead_letter(self, body: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._dead_letter_queue_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256]}},
        )


class SqsWorkQueue(_SqsQueue):
    def send(self, request: SummarizeRequest) -> None:
        self._send(request.model_dump_json(exclude_none=True), request.correlation_id)


class SqsWebhookQueue(_SqsQueue):
    def enqueue(self, message: WebhookMessage) -> None:
        self._send(message.model_dump_json(exclude_none=True), message.correlation_id)
