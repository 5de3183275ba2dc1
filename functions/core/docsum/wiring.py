"""Composition root: real adapters built from settings. Handlers call these once, at import,
so clients are reused across warm invocations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from docsum.adapters.aws import (
    DynamoDocumentRepository,
    DynamoRateLimiter,
    S3TextStore,
    SqsWorkQueue,
)
from docsum.documents import DEVELOPMENT_ID_SECRET, DocumentService
from docsum.observability import EMF_METRICS
from docsum.ports import LanguageModel, RateLimiter
from docsum.settings import Settings
from docsum.summarizer import Summarizer
from docsum.sweeper import Sweeper
from docsum.worker import SummarizeWorker

_BOTO_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
)


@dataclass(frozen=True)
class AwsClients:
    s3: Any
    sqs: Any
    dynamodb: Any

    @classmethod
    def create(cls) -> AwsClients:
        return cls(
            s3=boto3.client("s3", config=_BOTO_CONFIG),
            sqs=boto3.client("sqs", config=_BOTO_CONFIG),
            dynamodb=boto3.resource("dynamodb", config=_BOTO_CONFIG),
        )


def document_id_secret(settings: Settings) -> bytes:
    """The HMAC key of document ids: given directly, or read from the Secrets Manager secret
    the template generates. It must never change: ids depend on it."""
    if settings.document_id_secret is not None:
        return settings.document_id_secret.get_secret_value().encode()
    if settings.document_id_secret_arn:
        secrets = boto3.client("secretsmanager", config=_BOTO_CONFIG)
        value = secrets.get_secret_value(SecretId=settings.document_id_secret_arn)
        return str(value["SecretString"]).encode()
    return DEVELOPMENT_ID_SECRET


def document_service(settings: Settings, clients: AwsClients) -> DocumentService:
    return DocumentService(
        S3TextStore(clients.s3, settings.documents_bucket),
        DynamoDocumentRepository(clients.dynamodb.Table(settings.documents_table)),
        SqsWorkQueue(clients.sqs, settings.summarize_queue_url),
        settings,
        metrics=EMF_METRICS,
        uploads=S3TextStore(clients.s3, settings.documents_bucket),
        id_secret=lambda: document_id_secret(settings),
    )


def rate_limiter(settings: Settings, clients: AwsClients) -> RateLimiter | None:
    if not settings.rate_limit_requests:
        return None
    return DynamoRateLimiter(
        clients.dynamodb.Table(settings.documents_table),
        settings.rate_limit_requests,
        settings.rate_limit_window_seconds,
    )


def summarize_worker(
    settings: Settings, clients: AwsClients, llm: LanguageModel | None = None
) -> SummarizeWorker:
    if llm is None:
        from docsum.adapters.ollama_llm import OllamaLanguageModel  # only the worker needs it

        llm = OllamaLanguageModel(
            settings.ollama_host,
            settings.ollama_model,
            settings.ollama_timeout_seconds,
            settings.ollama_keep_alive,
        )
    return SummarizeWorker(
        S3TextStore(clients.s3, settings.documents_bucket),
        DynamoDocumentRepository(clients.dynamodb.Table(settings.documents_table)),
        SqsWorkQueue(clients.sqs, settings.summarize_queue_url, settings.dead_letter_queue_url),
        Summarizer(llm, settings),
        settings,
        metrics=EMF_METRICS,
    )


def sweeper(settings: Settings, clients: AwsClients) -> Sweeper:
    return Sweeper(
        DynamoDocumentRepository(clients.dynamodb.Table(settings.documents_table)),
        SqsWorkQueue(clients.sqs, settings.summarize_queue_url),
        settings,
        metrics=EMF_METRICS,
    )
