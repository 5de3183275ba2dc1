"""Lambda entry point of the sweeper: an EventBridge schedule → one sweep of the documents
nobody will finish (see `docsum.recovery.sweeper`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from docsum.platform.observability import flush_metrics, logger, trace_lambda_handler
from docsum.platform.settings import get_settings
from docsum.wiring import AwsClients, sweeper

sweep = sweeper(get_settings(), AwsClients.create())


@trace_lambda_handler
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    try:
        return sweep.sweep().as_dict()
    finally:
        flush_metrics()
