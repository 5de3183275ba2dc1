"""Composition root: real adapters built from settings. Handlers call these once, at import;
the AWS clients behind the adapters are made on first use (see `docsum.platform.lazy`) and reused
across warm invocations."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docsum.adapters.dynamodb import DynamoDocumentRepository
from docsum.adapters.eventbridge import EventBridgePublisher
from docsum.adapters.rate_limit import DynamoRateLimiter
from docsum.adapters.s3 import S3TextStore
from docsum.adapters.sqs import SqsWebhookQueue, SqsWorkQueue
from docsum.extract.fetch import FetchLimits, PageFetcher
from docsum.extract.page_relay import PageRelay
from docsum.intake.documents import DEVELOPMENT_ID_SECRET, DocumentService, IntakeLimits
from docsum.intake.uploads import UploadArrivals
from docsum.platform.lazy import on_first_use
from docsum.platform.observability import EMF_METRICS
from docsum.platform.settings import Settings
from docsum.ports.llm import LanguageModel
from docsum.ports.pages import PageSource
from docsum.ports.push import CallbackProbe, CompletionNotifier
from docsum.ports.rate_limit import RateLimiter
from docsum.push.callbacks import CallbackPolicy
from docsum.push.events import EVENT_SOURCE, CompletionPublisher
from docsum.push.webhooks import (
    SecretLookup,
    WebhookDeliverer,
    WebhookRetries,
    parse_webhook_secrets,
)
from docsum.recovery.sweeper import Sweeper, SweepPolicy
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker
from docsum.worker.summarize_queue import SummarizeQueueConsumer

if TYPE_CHECKING:
    from botocore.config import Config

    from docsum.adapters.http_webhook import Urllib3WebhookSender

_SECRETS_CACHE_SECONDS = 300  # a rotation reaches warm functions within five minutes


@functools.cache
def boto_config() -> Config:
    """The functions' timeouts and retries for every AWS client (botocore loads on first use)."""
    from botocore.config import Config

    return Config(
        connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
    )


def _boto3(factory: str, service: str, config: Config | None = None) -> Any:
    """`boto3.client(service)` or `boto3.resource(service)`; boto3 itself is imported here, on
    first use, too (~0.07 s a cold start need not pay)."""
    import boto3

    return getattr(boto3, factory)(service, config=config or boto_config())


@dataclass(frozen=True)
class AwsClients:
    """One function's AWS clients, each made on its first use (none at import)."""

    s3: Any
    sqs: Any
    dynamodb: Any  # the resource: the repository is written against its Table

    @classmethod
    def create(cls) -> AwsClients:
        return cls(
            s3=on_first_use(functools.partial(_boto3, "client", "s3")),
            sqs=on_first_use(functools.partial(_boto3, "client", "sqs")),
            dynamodb=on_first_use(functools.partial(_boto3, "resource", "dynamodb")),
        )

    def table(self, name: str) -> Any:
        dynamodb = self.dynamodb  # not `self`: clients a function never uses can be dropped
        return on_first_use(lambda: dynamodb.Table(name))


def document_id_secret(settings: Settings) -> bytes:
    """The HMAC key of document ids: given directly, or read from the Secrets Manager secret
    the template generates. It must never change: ids depend on it."""
    if settings.document_id_secret is not None:
        return settings.document_id_secret.get_secret_value().encode()
    if settings.document_id_secret_arn:
        secrets = _boto3("client", "secretsmanager")
        value = secrets.get_secret_value(SecretId=settings.document_id_secret_arn)
        return str(value["SecretString"]).encode()
    return DEVELOPMENT_ID_SECRET


def document_service(settings: Settings, clients: AwsClients) -> DocumentService:
    return DocumentService(
        S3TextStore(clients.s3, settings.documents_bucket),
        DynamoDocumentRepository(clients.table(settings.documents_table)),
        SqsWorkQueue(clients.sqs, settings.summarize_queue_url),
        IntakeLimits.of(settings),
        metrics=EMF_METRICS,
        uploads=S3TextStore(clients.s3, settings.documents_bucket),
        id_secret=lambda: document_id_secret(settings),
        callbacks=CallbackPolicy.from_settings(settings),
        callback_probe=callback_probe(settings),
    )


def _webhook_sender(timeout_seconds: float, max_response_bytes: int) -> Urllib3WebhookSender:
    """The one HTTP client that calls receivers (deliveries and the submission probe), so a
    probe connects exactly as deliveries will. Imported here: urllib3 and the CA store are
    what only the webhook function and a submission with a callback URL need."""
    from docsum.adapters.http_webhook import Urllib3WebhookSender

    return Urllib3WebhookSender(timeout_seconds, max_response_bytes)


def callback_probe(settings: Settings) -> CallbackProbe | None:
    """Made on first use: most submissions carry no callback URL."""
    if not settings.callback_probe_timeout_seconds:
        return None
    timeout = settings.callback_probe_timeout_seconds
    return on_first_use(functools.partial(_webhook_sender, timeout, 0))


def rate_limiter(settings: Settings, clients: AwsClients) -> RateLimiter | None:
    if not settings.rate_limit_requests:
        return None
    return DynamoRateLimiter(
        clients.table(settings.documents_table),
        settings.rate_limit_requests,
        settings.rate_limit_window_seconds,
    )


def completion_notifier(settings: Settings, clients: AwsClients) -> CompletionNotifier:
    return CompletionPublisher(
        EventBridgePublisher(
            on_first_use(functools.partial(_boto3, "client", "events")), EVENT_SOURCE
        ),
        SqsWebhookQueue(clients.sqs, settings.webhook_queue_url),
        metrics=EMF_METRICS,
    )


def webhook_secret_lookup(settings: Settings) -> SecretLookup:
    """From the SSM SecureString named by `WEBHOOK_SECRETS_PARAMETER` (the cloud), else from
    `WEBHOOK_SECRETS` (the local stack)."""

    def lookup(client: str) -> list[str]:
        if settings.webhook_secrets_parameter:
            from aws_lambda_powertools.utilities import parameters

            entries = parameters.get_parameter(
                settings.webhook_secrets_parameter, decrypt=True, max_age=_SECRETS_CACHE_SECONDS
            )
            return parse_webhook_secrets(str(entries)).get(client, [])
        return parse_webhook_secrets(settings.webhook_secret_entries()).get(client, [])

    return lookup


def webhook_deliverer(settings: Settings, clients: AwsClients) -> WebhookDeliverer:
    return WebhookDeliverer(
        _webhook_sender(settings.webhook_timeout_seconds, settings.webhook_max_response_bytes),
        webhook_secret_lookup(settings),
        CallbackPolicy.from_settings(settings),
        SqsWebhookQueue(
            clients.sqs, settings.webhook_queue_url, settings.webhook_dead_letter_queue_url
        ),
        WebhookRetries.of(settings),
        metrics=EMF_METRICS,
    )


def model_host_check(settings: Settings) -> Callable[[], str]:
    """The readiness check of the model host (the worker's view): raises unless it serves the
    model; says which model, where it came from, and the model calls it gets per slot."""

    def check() -> str:
        from docsum.adapters.ollama import probe_host  # the ollama client: on first use

        probe_host(settings.ollama_host, settings.ollama_model)
        origin = f" ({settings.llm_origin})" if settings.llm_origin else ""
        return f"{settings.ollama_model}{origin}; {settings.model_calls_note()}"

    return check


def page_fetcher(settings: Settings) -> PageFetcher:
    """Pages are fetched under the callbacks' policy, connected like webhooks (urllib3: imported
    on the first URL document)."""
    from docsum.adapters.http_page import Urllib3PageGetter

    limits = FetchLimits(
        settings.page_max_bytes, settings.page_timeout_seconds, settings.page_max_redirects
    )
    return PageFetcher(CallbackPolicy.from_settings(settings), Urllib3PageGetter(), limits)


def page_source(settings: Settings, clients: AwsClients) -> PageSource:
    """Where the worker gets pages: fetched in its own process, or, when PAGE_FETCH_FUNCTION
    names one (the summarize function in a VPC with no way out), by that function."""
    if not settings.page_fetch_function:
        return page_fetcher(settings)
    from botocore.config import Config

    from docsum.adapters.lambda_page import LambdaPageSource, invoke_read_timeout

    # The invoke waits for the whole fetch; one retry (throttling, a dropped connection).
    config = boto_config().merge(
        Config(
            read_timeout=invoke_read_timeout(settings.page_timeout_seconds),
            retries={"max_attempts": 2, "mode": "standard"},
        )
    )
    lambda_client = on_first_use(functools.partial(_boto3, "client", "lambda", config))
    store = S3TextStore(clients.s3, settings.documents_bucket)
    return LambdaPageSource(
        lambda_client, settings.page_fetch_function, store, settings.page_max_bytes
    )


def page_relay(settings: Settings, clients: AwsClients) -> PageRelay:
    """The fetch function's use case: the worker's own fetcher, the documents bucket."""
    return PageRelay(page_fetcher(settings), S3TextStore(clients.s3, settings.documents_bucket))


def summarize_worker(
    settings: Settings, clients: AwsClients, llm: LanguageModel | None = None
) -> SummarizeWorker:
    if llm is None:
        from docsum.adapters.ollama import OllamaLanguageModel  # only the worker needs it

        llm = OllamaLanguageModel.of(settings)
    return SummarizeWorker(
        S3TextStore(clients.s3, settings.documents_bucket),
        DynamoDocumentRepository(clients.table(settings.documents_table)),
        SqsWorkQueue(clients.sqs, settings.summarize_queue_url, settings.dead_letter_queue_url),
        Summarizer(llm, ModelBudget.of(settings)),
        WorkerPolicy.of(settings),
        metrics=EMF_METRICS,
        notifier=completion_notifier(settings, clients),
        pages=functools.partial(page_source, settings, clients),
    )


def summarize_consumer(
    settings: Settings, clients: AwsClients, llm: LanguageModel | None = None
) -> SummarizeQueueConsumer:
    """The summarize queue's consumer: the worker, and the uploads whose S3 events come
    through the same queue."""
    arrivals = UploadArrivals(
        DynamoDocumentRepository(clients.table(settings.documents_table)),
        settings.retention_days,
        files=S3TextStore(clients.s3, settings.documents_bucket),
    )
    return SummarizeQueueConsumer(summarize_worker(settings, clients, llm), arrivals)


def sweeper(settings: Settings, clients: AwsClients) -> Sweeper:
    return Sweeper(
        DynamoDocumentRepository(clients.table(settings.documents_table)),
        SqsWorkQueue(clients.sqs, settings.summarize_queue_url),
        SweepPolicy.of(settings),
        metrics=EMF_METRICS,
        notifier=completion_notifier(settings, clients),
    )
