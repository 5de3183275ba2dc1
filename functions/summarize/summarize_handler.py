"""Lambda entry point of the summarize function: an SQS batch → one worker call per record,
answered with a partial batch response (only failed records are retried)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from docsum.platform.delivery import Delivery
from docsum.platform.observability import flush_metrics, logger, trace_lambda_handler, trace_method
from docsum.platform.settings import get_settings
from docsum.wiring import AwsClients, summarize_consumer

# Report every failed record (even a whole failed batch) instead of raising: SQS then retries
# exactly those, and a failed batch does not count as a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
consumer = summarize_consumer(get_settings(), AwsClients.create())
_DEFAULT_LEASE_SECONDS = 60.0


@trace_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    # The document stays leased to this worker while this invocation may still run.
    lease_seconds = (
        lambda_context.get_remaining_time_in_millis() / 1000
        if lambda_context is not None
        else _DEFAULT_LEASE_SECONDS
    )
    consumer.consume(
        Delivery.of(record), lease_seconds=lease_seconds
    )  # raising → batch item failure


@trace_lambda_handler
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        flush_metrics()  # EMF to stdout; nothing when a batch recorded no metric
