"""Shared fixtures: settings, in-memory fakes, and moto-backed AWS built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from docsum.domain.document import utc_now
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.intake.uploads import UploadArrivals
from docsum.platform.observability import metrics
from docsum.platform.settings import Settings
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker
from docsum.worker.summarize_queue import SummarizeQueueConsumer
from moto import mock_aws

from infra.bootstrap import LocalResources, create_resources
from tests.fakes import (
    InMemoryDocumentRepository,
    InMemoryTextStore,
    InMemoryWorkQueue,
    ManualClock,
    RecordingMetrics,
    ScriptedLanguageModel,
    longest_jitter,
)

pytest_plugins = ["tests.no_skips"]


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    """Powertools Metrics is a module singleton (the handlers' EMF metrics): each test starts
    with an empty metric set. Use cases under unit test record into `Fakes.metrics` instead."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        summarize_queue_url="queue",
        api_token=None,
        max_receive_count=3,
        retry_base_seconds=10,
        requeue_after_seconds=60,
    )


@dataclass
class Fakes:
    store: InMemoryTextStore
    repository: InMemoryDocumentRepository
    queue: InMemoryWorkQueue
    llm: ScriptedLanguageModel
    metrics: RecordingMetrics
    clock: ManualClock
    service: DocumentService
    worker: SummarizeWorker
    consumer: SummarizeQueueConsumer  # the summarize queue: requests and S3 upload events


@pytest.fixture
def fakes(settings: Settings) -> Fakes:
    store, repository, queue = (
        InMemoryTextStore(),
        InMemoryDocumentRepository(),
        InMemoryWorkQueue(),
    )
    metrics = RecordingMetrics()
    clock = ManualClock(utc_now())
    llm = ScriptedLanguageModel(clock=clock)
    worker = SummarizeWorker(
        store,
        repository,
        queue,
        Summarizer(llm, ModelBudget.of(settings)),
        WorkerPolicy.of(settings),
        clock,
        metrics,
        longest_jitter,
    )
    return Fakes(
        store=store,
        repository=repository,
        queue=queue,
        llm=llm,
        metrics=metrics,
        clock=clock,
        service=DocumentService(
            store, repository, queue, IntakeLimits.of(settings), clock, metrics, uploads=store
        ),
        worker=worker,
        consumer=SummarizeQueueConsumer(
            worker, UploadArrivals(repository, settings.retention_days, clock, files=store)
        ),
    )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    """moto's in-process AWS with the template's bucket, table, queue and DLQ, and the
    functions' environment variables pointing at them."""
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        resources = create_resources(visibility_timeout=0)
        for key, value in resources.environment().items():
            monkeypatch.setenv(key, value)
        yield resources


def receive_all(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        VisibilityTimeout=60,
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        messages.extend(batch)
    return messages
