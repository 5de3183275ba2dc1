"""Ownership, listing, deletion and retention in the use cases (in-memory fakes)."""

from datetime import timedelta

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import DocumentNotFound, LLMError
from docsum.intake.documents import IntakeLimits
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.ports.llm import ChatAnswer, ChatCall
from docsum.worker.outcomes import Outcome

from tests.conftest import Fakes


def deliver(fakes: Fakes, document_id: str) -> Outcome:
    [request] = [m for m in fakes.queue.sent if m.document_id == document_id][-1:]
    delivery = Delivery(body=request.model_dump_json(), receive_count=1, receipt_handle="rh")
    return fakes.worker.process(delivery, lease_seconds=60)


def test_documents_belong_to_their_client(fakes: Fakes) -> None:
    alice = fakes.service.submit("Shared words.", Submission("a", owner="alice")).document
    bob = fakes.service.submit("Shared words.", Submission("b", owner="bob"))

    # The same text is another document for another client: no duplicate across clients.
    assert bob.created
    assert bob.document.id != alice.id
    assert (alice.owner, bob.document.owner) == ("alice", "bob")
    assert alice.text_key != bob.document.text_key
    assert len(fakes.queue.sent) == 2
    # Within a client it is a duplicate.
    assert not fakes.service.submit("Shared  words.", Submission("c", owner="alice")).created

    # Another client's id behaves exactly like an unknown one.
    assert fakes.service.get(alice.id, "alice").id == alice.id
    for attempt in (
        lambda: fakes.service.get(alice.id, "bob"),
        lambda: fakes.service.resummarize(alice.id, "r", "bob"),
        lambda: fakes.service.delete(alice.id, "bob"),
    ):
        with pytest.raises(DocumentNotFound):
            attempt()
    assert fakes.repository.items[alice.id].generation == 1  # untouched by bob
    assert [d.id for d in fakes.service.list("bob").items] == [bob.document.id]


def test_delete_removes_record_and_text(fakes: Fakes) -> None:
    doc = fakes.service.submit("Gone soon.", Submission("a", owner="alice")).document
    assert doc.text_key in fakes.store.objects

    fakes.service.delete(doc.id, "alice")

    assert doc.text_key not in fakes.store.objects
    with pytest.raises(DocumentNotFound):
        fakes.service.get(doc.id, "alice")
    with pytest.raises(DocumentNotFound):
        fakes.service.delete(doc.id, "alice")
    assert fakes.service.list("alice").items == []
    assert fakes.metrics.counts["DocumentsDeleted"] == 1


def test_delete_keeps_a_text_another_document_of_the_owner_uses(fakes: Fakes) -> None:
    """Other summary options of the same content share the text (one S3 object per owner and
    content); deleting one of them must not take the text from the other."""
    doc = fakes.service.submit("Shared text.", Submission("a", owner="alice")).document
    sibling = doc.model_copy(update={"id": "5" * 32})
    assert fakes.repository.create(sibling)

    fakes.service.delete(doc.id, "alice")
    assert fakes.store.objects[doc.text_key] == "Shared text."

    fakes.service.delete(sibling.id, "alice")
    assert doc.text_key not in fakes.store.objects


def test_late_message_of_a_deleted_document_is_consumed_without_llm_call(fakes: Fakes) -> None:
    doc = fakes.service.submit("Deleted before its turn.", Submission("a")).document
    fakes.service.delete(doc.id)

    assert deliver(fakes, doc.id) is Outcome.GONE
    assert fakes.llm.calls == []
    assert fakes.metrics.counts["DeletedDocumentDeliveries"] == 1
    assert fakes.queue.dead_letters == []
    assert fakes.queue.retries == []


@pytest.mark.parametrize(
    ("moment", "model"),
    [
        ("before the text is read", "answers"),
        ("while the model answers", "answers"),
        ("while the model answers", "is unreachable"),
    ],
)
def test_delete_during_summarization_wins(fakes: Fakes, moment: str, model: str) -> None:
    """Whatever the work in flight runs into once the client deleted the document (its text
    gone, its summary write refused, a model error), the work is dropped: neither `failed` nor
    retried, nor the record recreated."""
    doc = fakes.service.submit("Being summarized right now.", Submission("a")).document
    answer, read_text = fakes.llm.chat, fakes.store.get_text

    def read_after_delete(key: str) -> str:
        fakes.service.delete(doc.id)
        return read_text(key)

    def answer_after_delete(call: ChatCall) -> ChatAnswer:
        if moment == "while the model answers":
            fakes.service.delete(doc.id)
        if model == "is unreachable":
            raise LLMError("unreachable", "connection refused", transient=True)
        return answer(call)

    if moment == "before the text is read":
        fakes.store.get_text = read_after_delete  # type: ignore[method-assign]
    fakes.llm.chat = answer_after_delete  # type: ignore[method-assign]
    assert deliver(fakes, doc.id) is Outcome.GONE
    assert doc.id not in fakes.repository.items  # not recreated by a late write
    assert fakes.repository.was_deleted(doc.id)
    assert doc.text_key not in fakes.store.objects
    assert fakes.metrics.counts["DeletedDocumentDeliveries"] == 1
    assert "SummariesFailed" not in fakes.metrics.counts
    assert (fakes.queue.retries, fakes.queue.dead_letters) == ([], [])
    # Its redelivery is consumed with no further LLM call.
    calls = len(fakes.llm.calls)
    assert deliver(fakes, doc.id) is Outcome.GONE
    assert len(fakes.llm.calls) == calls


def test_a_message_for_a_document_that_never_existed_is_still_parked(fakes: Fakes) -> None:
    doc = fakes.service.submit("Soon unknown.", Submission("a")).document
    del fakes.repository.items[doc.id]  # no tombstone: it never existed as far as we know
    assert deliver(fakes, doc.id) is Outcome.PARKED
    assert len(fakes.queue.dead_letters) == 1


def test_list_pages_newest_first_with_a_status_filter(fakes: Fakes) -> None:
    ids = []
    for i in range(5):
        ids.append(
            fakes.service.submit(f"Text number {i}.", Submission("a", owner="alice")).document.id
        )
        fakes.clock.advance(seconds=1)
    deliver(fakes, ids[1])

    first = fakes.service.list("alice", limit=2)
    assert [d.id for d in first.items] == [ids[4], ids[3]]
    second = fakes.service.list("alice", limit=2, cursor=first.next_cursor)
    assert [d.id for d in second.items] == [ids[2], ids[1]]
    third = fakes.service.list("alice", limit=2, cursor=second.next_cursor)
    assert [d.id for d in third.items] == [ids[0]]
    assert third.next_cursor is None
    done = fakes.service.list("alice", status=Status.DONE)
    assert [d.id for d in done.items] == [ids[1]]


def test_retention_expires_documents(fakes: Fakes, settings: Settings) -> None:
    keeping = Settings(**{**settings.model_dump(), "retention_days": 2})
    service = type(fakes.service)(
        fakes.store,
        fakes.repository,
        fakes.queue,
        IntakeLimits.of(keeping),
        fakes.clock,
        fakes.metrics,
    )
    doc = service.submit("Short-lived.", Submission("a")).document
    assert doc.expires_at == int((fakes.clock.now + timedelta(days=2)).timestamp())
    fakes.clock.advance(days=1)
    assert service.get(doc.id).id == doc.id

    fakes.clock.advance(days=1, seconds=1)
    # Expired: gone for readers and the lister, even though no TTL process removed it yet.
    assert doc.id in fakes.repository.items
    with pytest.raises(DocumentNotFound):
        service.get(doc.id)
    assert service.list().items == []
    assert deliver(fakes, doc.id) is Outcome.GONE
    assert fakes.llm.calls == []
    # Submitting the text again starts a new document.
    again = service.submit("Short-lived.", Submission("b"))
    assert again.created
    assert again.document.created_at == fakes.clock.now


def test_without_retention_nothing_expires(fakes: Fakes) -> None:
    doc = fakes.service.submit("Kept.", Submission("a")).document
    assert doc.expires_at is None
    fakes.clock.advance(days=3650)
    assert fakes.service.get(doc.id).id == doc.id
