"""One contract, two implementations: the in-memory work queue and SQS (moto, queues from
template.yaml). The fake is only trustworthy while both pass the same tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
import pytest
from docsum.adapters.sqs import SqsWorkQueue
from docsum.domain.messages import SummarizeRequest
from docsum.ports.queues import WorkQueue

from infra.bootstrap import LocalResources, create_resources
from tests.fakes import InMemoryWorkQueue

REQUEST = SummarizeRequest(
    document_id="a" * 32,
    generation=2,
    correlation_id="req-1",
    enqueued_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
)


class Consumer(Protocol):
    """What the summarize function's trigger sees of the queue."""

    def receive(self) -> list[tuple[str, str]]:
        """(body, receipt handle) of the messages visible now, each then in flight."""
        ...

    def dead_letters(self) -> list[tuple[str, str]]:
        """(body, reason) of every message parked in the dead-letter queue."""
        ...


@dataclass
class MemoryConsumer:
    queue: InMemoryWorkQueue

    def receive(self) -> list[tuple[str, str]]:
        return self.queue.receive()

    def dead_letters(self) -> list[tuple[str, str]]:
        return list(self.queue.dead_letters)


@dataclass
class SqsConsumer:
    sqs: Any
    resources: LocalResources

    def receive(self) -> list[tuple[str, str]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.resources.queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        return [(m["Body"], m["ReceiptHandle"]) for m in messages]

    def dead_letters(self) -> list[tuple[str, str]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.resources.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return [(m["Body"], m["MessageAttributes"]["reason"]["StringValue"]) for m in messages]


@pytest.fixture(params=["memory", "sqs"])
def queue_and_consumer(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[WorkQueue, Consumer]]:
    if request.param == "memory":
        fake = InMemoryWorkQueue()
        yield fake, MemoryConsumer(fake)
    else:
        request.getfixturevalue("aws_env")  # moto in-process, dummy credentials
        # A received message stays in flight (aws_env's queues make it visible again at once).
        resources = create_resources(name_prefix="contract", visibility_timeout=300)
        sqs = boto3.client("sqs")
        yield (
            SqsWorkQueue(sqs, resources.queue_url, resources.dead_letter_queue_url),
            SqsConsumer(sqs, resources),
        )


def test_a_sent_request_is_received_as_sent(
    queue_and_consumer: tuple[WorkQueue, Consumer],
) -> None:
    queue, consumer = queue_and_consumer
    queue.send(REQUEST)
    [(body, _)] = consumer.receive()
    assert SummarizeRequest.model_validate_json(body) == REQUEST


def test_a_received_message_goes_to_one_receiver_at_a_time(
    queue_and_consumer: tuple[WorkQueue, Consumer],
) -> None:
    queue, consumer = queue_and_consumer
    queue.send(REQUEST)
    assert len(consumer.receive()) == 1
    assert consumer.receive() == []


def test_retry_later_without_delay_makes_the_message_visible_again(
    queue_and_consumer: tuple[WorkQueue, Consumer],
) -> None:
    queue, consumer = queue_and_consumer
    queue.send(REQUEST)
    [(body, handle)] = consumer.receive()
    queue.retry_later(handle, 0)
    [(again, _)] = consumer.receive()
    assert again == body


def test_retry_later_with_a_delay_keeps_the_message_hidden(
    queue_and_consumer: tuple[WorkQueue, Consumer],
) -> None:
    queue, consumer = queue_and_consumer
    queue.send(REQUEST)
    [(_, handle)] = consumer.receive()
    queue.retry_later(handle, 120)
    assert consumer.receive() == []


def test_retry_later_with_an_unknown_receipt_is_harmless(
    queue_and_consumer: tuple[WorkQueue, Consumer],
) -> None:
    """Best effort: a stale receipt (the message already settled) is no error."""
    queue, consumer = queue_and_consumer
    queue.retry_later("not-a-receipt-handle", 0)
    assert consumer.receive() == []


def test_dead_letter_parks_the_body_with_its_reason(
    queue_and_consumer: tuple[WorkQueue, Consumer],
) -> None:
    queue, consumer = queue_and_consumer
    queue.dead_letter('{"not": "a request"}', "malformed message: missing document_id")
    assert consumer.dead_letters() == [
        ('{"not": "a request"}', "malformed message: missing document_id")
    ]
    assert consumer.receive() == []  # not on the work queue
