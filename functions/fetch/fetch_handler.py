"""Lambda entry point of the fetch function: `{"url", "key"}` from the summarize worker (a
synchronous invoke) → the page fetched under the address policy, its bytes at `key` in the
documents bucket, and `{"url", "media_type", "size"}` or `{"failed": reason}` as the answer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from docsum.platform.observability import flush_metrics, logger, trace_lambda_handler
from docsum.platform.settings import get_settings
from docsum.wiring import AwsClients, page_relay

relay = page_relay(get_settings(), AwsClients.create())


@trace_lambda_handler
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return relay.handle(event)  # raising → a function error: the worker retries
    finally:
        flush_metrics()
