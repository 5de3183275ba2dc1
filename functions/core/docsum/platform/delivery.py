"""What every SQS-triggered use case shares: the delivery it is handed, the signal to have it
redelivered, and the attempt-counted retry backoff."""

from __future__ import annotations

from dataclasses import dataclass

from docsum.platform.settings import Settings


@dataclass(frozen=True)
class Delivery:
    """What a use case needs of one SQS record."""

    body: str
    receive_count: int
    receipt_handle: str
    message_id: str = ""


class RetryLater(Exception):
    """Report this record as failed so SQS delivers it again."""


def attempt_backoff_seconds(attempt: int, settings: Settings) -> int:
    """Delay before attempt `attempt + 1`: retry_base_seconds × 2^(attempt−1), capped. For
    deliveries retried a bounded number of times (webhooks); the summarize worker's retries
    run on time instead (`docsum.platform.retry`), to ride out an hour-long model outage."""
    return min(settings.retry_max_seconds, settings.retry_base_seconds << (max(attempt, 1) - 1))
