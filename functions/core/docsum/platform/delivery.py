"""What every SQS-triggered use case shares: the delivery it is handed (read from the SQS
record once, here, for every handler) and the signal to have it redelivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
