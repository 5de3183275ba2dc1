"""What every SQS-triggered use case shares: the delivery it is handed (read from the SQS
record once, here, for every handler), the signal to have it redelivered, and the
attempt-counted retry backoff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from docsum.platform.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


@dataclass(frozen=True)
class Delivery:
    """What a use case needs of one SQS record."""

    body: str
    receive_count: int
    receipt_handle: str
    message_id: str = ""

    @classmethod
    def of(cls, record: SQSRecord) -> Delivery:
        """The delivery of one record of an SQS batch (Powertools' data class)."""
        return cls(
            body=record.body,
            receive_count=int(record.attributes.approximate_receive_count),
            receipt_handle=record.receipt_handle,
            message_id=record.message_id,
        )


class RetryLater(Exception):
    """Report this record as failed so SQS delivers it again."""


def attempt_backoff_seconds(attempt: int, settings: Settings) -> int:
    """Delay before attempt `attempt + 1`: retry_base_seconds × 2^(attempt−1), capped. For
    deliveries retried a bounded number of times (webhooks); the summarize worker's retries
    run on time instead (`docsum.platform.retry`), to ride out an hour-long model outage."""
    return min(settings.retry_max_seconds, settings.retry_base_seconds << (max(attempt, 1) - 1))
