"""Lambda entry point of the webhook function: an SQS batch of webhook messages → one signed
POST each, answered with a partial batch response (only failed deliveries are retried)."""

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
from docsum.wiring import AwsClients, webhook_deliverer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
deliverer = webhook_deliverer(get_settings(), AwsClients.create())


@trace_method
def record_handler(record: SQSRecord) -> None:
    delivery = Delivery.of(record)
    deliverer.deliver(delivery)  # raising → batch item failure, retried after the backoff


@trace_lambda_handler
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        flush_metrics()
