"""Completion push from the worker: an event per finished document, a webhook message when the
document has a callback URL; neither can fail or delay a summary."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import CallbackUrlRefused, LLMError
from docsum.domain.messages import SummarizeRequest
from docsum.domain.views import DocumentOut
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.intake.submission import Submission
from docsum.intake.uploads import UploadArrivals
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.settings import Settings
from docsum.push.callbacks import CallbackPolicy
from docsum.push.events import CompletionPublisher
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.outcomes import Outcome
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker
from docsum.worker.summarize_queue import SummarizeQueueConsumer

from tests.fakes import (
    InMemoryDocumentRepository,
    InMemoryTextStore,
    InMemoryWebhookQueue,
    InMemoryWorkQueue,
    RecordingEventPublisher,
    ScriptedLanguageModel,
    transient,
)
from tests.unit.test_files import s3_event

HOOK = "https://hooks.example.com/docsum"


def public_dns(host: str, port: int) -> list[str]:
    return {"hooks.example.com": ["93.184.216.34"], "inside.example.com": ["10.0.0.7"]}[host]


@dataclass
class Pipeline:
    repository: InMemoryDocumentRepository
    queue: InMemoryWorkQueue
    llm: ScriptedLanguageModel
    events: RecordingEventPublisher
    webhooks: InMemoryWebhookQueue
    service: DocumentService
    worker: SummarizeWorker
    store: InMemoryTextStore

    def submit(self, text: str = "Cats sleep. Dogs bark.", hook: str | None = HOOK) -> str:
        return self.service.submit(
            text, Submission("corr-7", title="Pets", callback_url=hook)
        ).document.id

    def deliver(self, receive_count: int = 1, request: SummarizeRequest | None = None) -> Outcome:
        body = (request or self.queue.sent[-1]).model_dump_json()
        return self.worker.process(Delivery(body, receive_count, "rh"), lease_seconds=60)


@pytest.fixture
def pipeline(settings: Settings) -> Pipeline:
    store, repository, queue = (
        InMemoryTextStore(),
        InMemoryDocumentRepository(),
        InMemoryWorkQueue(),
    )
    llm, events, webhooks = (
        ScriptedLanguageModel(),
        RecordingEventPublisher(),
        InMemoryWebhookQueue(),
    )
    policy = CallbackPolicy(allow_loopback_http=False, resolver=public_dns)
    return Pipeline(
        repository,
        queue,
        llm,
        events,
        webhooks,
        DocumentService(
            store, repository, queue, IntakeLimits.of(settings), uploads=store, callbacks=policy
        ),
        SummarizeWorker(
            store,
            repository,
            queue,
            Summarizer(llm, ModelBudget.of(settings)),
            WorkerPolicy.of(settings),
            notifier=CompletionPublisher(events, webhooks),
        ),
        store,
    )


def test_a_summary_publishes_one_event_and_queues_one_webhook(pipeline: Pipeline) -> None:
    doc_id = pipeline.submit()
    assert pipeline.events.events == []  # nothing before the end

    assert pipeline.deliver() is Outcome.DONE

    stored = pipeline.repository.items[doc_id]
    view = DocumentOut.of(stored).model_dump(mode="json")
    assert pipeline.events.events == [("Document Summarized", view)]
    assert view["status"] == "done"
    assert not {"text", "text_key", "chunk_summaries", "owner"} & set(view)
    [message] = pipeline.webhooks.messages
    assert (message.type, message.url, message.owner) == ("document.summarized", HOOK, "default")
    assert message.webhook_id == f"msg_{doc_id}_1_done"
    assert message.data == view
    assert message.correlation_id == "corr-7"


def test_a_document_without_callback_gets_only_the_event(pipeline: Pipeline) -> None:
    pipeline.submit(hook=None)
    pipeline.deliver()
    assert [t for t, _ in pipeline.events.events] == ["Document Summarized"]
    assert pipeline.webhooks.messages == []


def test_a_permanent_failure_publishes_document_failed(pipeline: Pipeline) -> None:
    pipeline.llm.script = [LLMError("model_missing", "no such model", transient=False)]
    doc_id = pipeline.submit()
    assert pipeline.deliver() is Outcome.FAILED
    [(detail_type, detail)] = pipeline.events.events
    assert (detail_type, detail["status"], detail["id"]) == ("Document Failed", "failed", doc_id)
    assert detail["error"] == "model not available on the model host"  # stable, no raw text
    assert pipeline.webhooks.messages[0].type == "document.failed"


def test_retries_notify_nothing_until_the_last_attempt_fails(
    pipeline: Pipeline, settings: Settings
) -> None:
    pipeline.llm.script = [transient()] * settings.max_receive_count
    pipeline.submit()
    for attempt in range(1, settings.max_receive_count):
        with pytest.raises(RetryLater):
            pipeline.deliver(receive_count=attempt)
        assert pipeline.events.events == []
    with pytest.raises(RetryLater):
        pipeline.deliver(receive_count=settings.max_receive_count)
    assert [t for t, _ in pipeline.events.events] == ["Document Failed"]
    assert len(pipeline.webhooks.messages) == 1


def test_a_duplicate_delivery_notifies_again_with_the_same_webhook_id(pipeline: Pipeline) -> None:
    """The delivery that stored the summary may have died before notifying: at least once."""
    pipeline.submit()
    pipeline.deliver()
    assert pipeline.deliver() is Outcome.DUPLICATE
    assert len(pipeline.llm.calls) == 1
    first, again = pipeline.webhooks.messages
    assert first.webhook_id == again.webhook_id
    assert len(pipeline.events.events) == 2


def test_a_resummarize_is_a_new_notification(pipeline: Pipeline) -> None:
    doc_id = pipeline.submit()
    pipeline.deliver()
    pipeline.service.resummarize(doc_id, "corr-8")
    pipeline.deliver()
    ids = [m.webhook_id for m in pipeline.webhooks.messages]
    assert ids == [f"msg_{doc_id}_1_done", f"msg_{doc_id}_2_done"]


def test_a_broken_bus_or_webhook_queue_never_fails_the_summary(pipeline: Pipeline) -> None:
    pipeline.events.failure = RuntimeError("EventBridge is down")
    pipeline.webhooks.failure = RuntimeError("SQS is down")
    doc_id = pipeline.submit()
    assert pipeline.deliver() is Outcome.DONE
    assert pipeline.repository.items[doc_id].status is Status.DONE
    assert pipeline.queue.retries == []


def test_a_refused_callback_url_stores_nothing(pipeline: Pipeline) -> None:
    with pytest.raises(CallbackUrlRefused, match=r"10\.0\.0\.7"):
        pipeline.submit(hook="https://inside.example.com/hook")
    assert pipeline.repository.items == {}
    assert pipeline.queue.sent == []


def test_a_duplicate_submission_keeps_the_first_callback(pipeline: Pipeline) -> None:
    doc_id = pipeline.submit(hook=HOOK)
    again = pipeline.service.submit("Cats sleep. Dogs bark.", Submission("c"))
    assert (again.created, again.document.id) == (False, doc_id)
    assert pipeline.repository.items[doc_id].callback_url == HOOK


def test_an_uploaded_document_notifies_its_callback_when_the_file_has_been_summarized(
    pipeline: Pipeline,
) -> None:
    """The `/uploads` record carries the URL: the S3 event → worker path notifies unchanged."""
    upload = pipeline.service.create_upload(
        "pets.txt", "text/plain", 22, Submission("corr-u", callback_url=HOOK)
    )
    key = upload.document.original_key
    assert key is not None
    pipeline.store.files[key] = b"Cats sleep. Dogs bark."
    arrived = Delivery(s3_event(key, 22), 1, "rh-s3")
    consumer = SummarizeQueueConsumer(
        pipeline.worker, UploadArrivals(pipeline.repository, 0, files=pipeline.store)
    )
    assert consumer.consume(arrived, lease_seconds=60) is Outcome.DONE

    [message] = pipeline.webhooks.messages
    assert (message.type, message.url) == ("document.summarized", HOOK)
    assert message.data["id"] == upload.document.id
    assert message.data["source"]["filename"] == "pets.txt"
    assert message.webhook_id == f"msg_{upload.document.id}_1_done"


def test_a_file_sent_directly_notifies_its_callback(pipeline: Pipeline) -> None:
    data = b"Cats sleep. Dogs bark."
    doc = pipeline.service.submit_file(data, "pets.txt", None, Submission("c", callback_url=HOOK))
    assert pipeline.deliver() is Outcome.DONE
    [message] = pipeline.webhooks.messages
    assert (message.url, message.data["id"]) == (HOOK, doc.document.id)
