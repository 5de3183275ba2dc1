"""A document that kills its worker every time settles: after `max_worker_deaths` deaths it
is `failed` with a reason saying so, counted on its record across SQS redeliveries and the
sweeper's re-sends, and nothing but a re-summarize starts work on it again.

The real worker, sweeper, DynamoDB repository and SQS queue (moto); the deaths are an exception
the worker cannot catch (as a Lambda timeout or an out-of-memory kill leaves no word either).
"""

from __future__ import annotations

import boto3
import pytest
from docsum.adapters.dynamodb import DynamoDocumentRepository
from docsum.adapters.s3 import S3TextStore
from docsum.adapters.sqs import SqsWorkQueue
from docsum.domain.document import Status, utc_now
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.settings import Settings
from docsum.recovery.sweeper import Sweeper, SweepPolicy
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.outcomes import Outcome
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker

from infra.bootstrap import LocalResources
from tests.fakes import ManualClock, RecordingMetrics, ScriptedLanguageModel, longest_jitter

LEASE = 60


class WorkerKilled(BaseException):
    """The invocation dies: no `except Exception` in the worker sees it."""


class Pipeline:
    def __init__(self, resources: LocalResources, settings: Settings) -> None:
        self.clock = ManualClock(utc_now())
        self.sqs = boto3.client("sqs")
        self.queue_url = resources.queue_url
        store = S3TextStore(boto3.client("s3"), resources.bucket)
        self.repository = DynamoDocumentRepository(
            boto3.resource("dynamodb").Table(resources.table)
        )
        queue = SqsWorkQueue(self.sqs, resources.queue_url, resources.dead_letter_queue_url)
        metrics = RecordingMetrics()
        self.llm = ScriptedLanguageModel(clock=self.clock)
        self.kills = 0
        self.poisoned = True
        self.llm.respond = self._maybe_kill
        self.service = DocumentService(
            store, self.repository, queue, IntakeLimits.of(settings), self.clock, metrics
        )
        self.worker = SummarizeWorker(
            store,
            self.repository,
            queue,
            Summarizer(self.llm, ModelBudget.of(settings)),
            WorkerPolicy.of(settings),
            self.clock,
            metrics,
            longest_jitter,
        )
        self.sweeper = Sweeper(
            self.repository, queue, SweepPolicy.of(settings), self.clock, metrics
        )

    def _maybe_kill(self, call: object) -> None:
        if self.poisoned:
            self.kills += 1
            raise WorkerKilled
        return None

    def consume(self) -> list[Outcome | str]:
        """One receive, each message handled as the summarize function's invocation would:
        deleted when processed, left on the queue when the invocation died or asked again."""
        results: list[Outcome | str] = []
        for message in self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            delivery = Delivery(
                message["Body"],
                int(message["Attributes"]["ApproximateReceiveCount"]),
                message["ReceiptHandle"],
            )
            try:
                results.append(self.worker.process(delivery, LEASE))
            except WorkerKilled:
                results.append("killed")
                continue
            except RetryLater:
                results.append("retry")
                continue
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return results

    def after_the_lease(self) -> None:
        self.clock.advance(seconds=LEASE + 1)

    def lose_the_message(self) -> None:
        """Its last delivery died: SQS moves the message to the DLQ, nobody redelivers it."""
        self.sqs.purge_queue(QueueUrl=self.queue_url)


@pytest.fixture
def pipeline(aws_env: LocalResources) -> Pipeline:
    settings = Settings(
        summarize_queue_url=aws_env.queue_url, api_token=None, sweep_stuck_after_seconds=900
    )
    assert settings.max_worker_deaths == 3
    return Pipeline(aws_env, settings)


def test_a_document_that_kills_its_worker_settles_failed_after_three_deaths(
    pipeline: Pipeline,
) -> None:
    text = "A text whose summary kills the worker."
    doc = pipeline.service.submit(text, Submission("c", title="Poison")).document
    assert pipeline.consume() == ["killed"]  # death 1
    pipeline.after_the_lease()
    assert pipeline.consume() == ["killed"]  # death 2: the message came back
    pipeline.after_the_lease()
    pipeline.lose_the_message()
    assert pipeline.consume() == []
    # The sweeper finds the expired lease and sends a fresh message (receive count 1 again).
    assert pipeline.sweeper.sweep().recovered == [doc.id]
    assert pipeline.consume() == ["killed"]  # death 3
    pipeline.after_the_lease()
    assert pipeline.consume() == [Outcome.FAILED]  # the fourth claim sees three deaths

    failed = pipeline.repository.get(doc.id)
    assert failed is not None
    assert (failed.status, failed.error) == (
        Status.FAILED,
        "the document stopped the worker 3 times",
    )
    assert pipeline.kills == 3

    # Settled: a redriven old message, more sweeps and time change nothing.
    pipeline.sqs.send_message(
        QueueUrl=pipeline.queue_url,
        MessageBody=f'{{"document_id":"{doc.id}","generation":1,"correlation_id":"c"}}',
    )
    assert pipeline.consume() == [Outcome.DUPLICATE]
    pipeline.clock.advance(days=1)
    assert pipeline.sweeper.sweep().as_dict() == {"resent": 0, "recovered": 0, "failed": 0}
    assert pipeline.kills == 3
    still = pipeline.repository.get(doc.id)
    assert still is not None
    assert still.status is Status.FAILED

    # Only a re-summarize (a new generation) starts again, with a clean count.
    pipeline.poisoned = False
    pipeline.service.resummarize(doc.id, "c2")
    assert pipeline.consume() == [Outcome.DONE]
    done = pipeline.repository.get(doc.id)
    assert done is not None
    assert (done.status, done.generation, done.error) == (Status.DONE, 2, None)
