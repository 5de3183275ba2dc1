"""Lambda entry point of the ingest function: API Gateway event → FastAPI app (Mangum).

The app is built at import (its AWS clients are made on first use and reused by warm
invocations); lifespan is off because Mangum would otherwise run it on every call."""

from __future__ import annotations

from typing import Any

from docsum.platform.observability import trace_lambda_handler
from docsum.platform.settings import get_settings
from docsum.wiring import AwsClients, document_service, model_host_check, rate_limiter
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from docsum_api.app import ApiSettings, ReadinessCheck, create_app

settings = get_settings()
clients = AwsClients.create()


def _readiness_checks() -> dict[str, ReadinessCheck]:
    # What these return (raw boto3 responses) is not shown: /ready answers `ok` or `failed`.
    return {
        "s3": lambda: clients.s3.head_bucket(Bucket=settings.documents_bucket),
        "dynamodb": lambda: clients.dynamodb.meta.client.describe_table(
            TableName=settings.documents_table
        ),
        "sqs": lambda: clients.sqs.get_queue_attributes(
            QueueUrl=settings.summarize_queue_url, AttributeNames=["QueueArn"]
        ),
    }


app = create_app(
    ApiSettings.of(settings),
    document_service(settings, clients),
    readiness_checks=_readiness_checks(),
    informational_checks={"ollama": model_host_check(settings)},
    rate_limiter=rate_limiter(settings, clients),
)


async def _under_the_stage(scope: Any, receive: Any, send: Any) -> None:
    """API Gateway serves the API under its stage (`/v1`), the server's root path: links and
    the web page's base carry it. Mangum leaves `root_path` empty, so it is set here."""
    await app({**scope, "root_path": settings.api_root_path}, receive, send)


# problem+json is text: without it Mangum would base64-encode every error body, and API Gateway
# (no BinaryMediaTypes) would hand clients the base64 string. The web page's SVG icon is text too.
_asgi_adapter = Mangum(
    _under_the_stage,
    lifespan="off",
    text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "application/problem+json", "image/svg+xml"],
)


@trace_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Any: Powertools' and Mangum's LambdaContext types describe the same object differently.
    return _asgi_adapter(event, context)
