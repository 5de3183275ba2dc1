from datetime import timedelta

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import DocumentNotFound, DocumentTooLarge
from docsum.domain.ids import content_digest, document_id
from docsum.intake.documents import DEVELOPMENT_ID_SECRET
from docsum.intake.submission import Submission
from docsum.platform.settings import Settings

from tests.conftest import Fakes


def test_submit_stores_text_then_record_then_message(fakes: Fakes) -> None:
    submission = fakes.service.submit("  Some text.  ", Submission("req-1", title="A title"))

    doc = submission.document
    assert submission.created
    assert doc.id == document_id(DEVELOPMENT_ID_SECRET, "default", content_digest("Some text."))
    assert doc.owner == "default"
    assert doc.status is Status.QUEUED
    assert fakes.store.objects[doc.text_key] == "Some text."
    assert fakes.repository.get(doc.id) == doc
    [message] = fakes.queue.sent
    assert (message.document_id, message.generation, message.correlation_id) == (
        doc.id,
        1,
        "req-1",
    )


def test_same_text_again_is_recognised_without_new_work(fakes: Fakes) -> None:
    first = fakes.service.submit("Some   text.", Submission("a")).document
    again = fakes.service.submit("Some text.\n", Submission("b", title="other title"))

    assert not again.created
    assert again.document.id == first.id
    assert len(fakes.queue.sent) == 1


def test_duplicate_of_a_document_stuck_in_queued_resends_its_message(
    fakes: Fakes, settings: Settings
) -> None:
    doc = fakes.service.submit("Stuck text.", Submission("a")).document
    # Simulate a crash between the DynamoDB write and the SQS send: no message went out.
    fakes.queue.sent.clear()
    stale = doc.enqueued_at - timedelta(seconds=settings.requeue_after_seconds + 1)
    fakes.repository.items[doc.id] = doc.model_copy(update={"enqueued_at": stale})

    fakes.service.submit("Stuck text.", Submission("b"))

    [message] = fakes.queue.sent
    assert message.document_id == doc.id
    assert fakes.repository.items[doc.id].enqueued_at > stale


def test_recently_queued_duplicate_sends_nothing(fakes: Fakes) -> None:
    fakes.service.submit("Fresh text.", Submission("a"))
    fakes.service.submit("Fresh text.", Submission("b"))
    assert len(fakes.queue.sent) == 1


def test_text_over_the_limit_is_refused_before_anything_is_stored(fakes: Fakes) -> None:
    limit = Settings().max_document_chars
    with pytest.raises(DocumentTooLarge):
        fakes.service.submit("x" * (limit + 1), Submission("a"))
    assert not fakes.store.objects
    assert not fakes.queue.sent


def test_resummarize_starts_a_new_generation_and_keeps_the_summary(fakes: Fakes) -> None:
    doc = fakes.service.submit("Text.", Submission("a")).document
    fakes.repository.items[doc.id] = doc.model_copy(
        update={"summary": "Old summary.", "summary_generation": 1, "status": Status.DONE}
    )

    again = fakes.service.resummarize(doc.id, "r")

    assert again.generation == 2
    assert again.status is Status.QUEUED
    assert again.summary == "Old summary."
    assert fakes.queue.sent[-1].generation == 2


def test_unknown_documents_are_not_found(fakes: Fakes) -> None:
    with pytest.raises(DocumentNotFound):
        fakes.service.get("0" * 32)
    with pytest.raises(DocumentNotFound):
        fakes.service.resummarize("0" * 32, "r")
