"""One contract, two implementations: the in-memory fake and DynamoDB (moto, table from
template.yaml). The fake is only trustworthy while both pass the same tests."""

from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from docsum.adapters.aws import DynamoDocumentRepository, S3TextStore
from docsum.errors import DocumentNotFound, TextMissing
from docsum.models import Document, Progress, Status, Summary, utc_now
from docsum.ports import DocumentRepository

from infra.bootstrap import LocalResources
from tests.fakes import InMemoryDocumentRepository


@pytest.fixture(params=["memory", "dynamodb"])
def repository(request: pytest.FixtureRequest) -> Iterator[DocumentRepository]:
    if request.param == "memory":
        yield InMemoryDocumentRepository()
    else:
        resources: LocalResources = request.getfixturevalue("aws_env")
        yield DynamoDocumentRepository(boto3.resource("dynamodb").Table(resources.table))


def new_document(doc_id: str = "a" * 32) -> Document:
    now = utc_now()
    return Document(
        id=doc_id,
        title="T",
        text_key=f"documents/{doc_id}.txt",
        text_chars=5,
        created_at=now,
        updated_at=now,
        enqueued_at=now,
        correlation_id="c",
    )


SUMMARY = Summary(
    text="Short.", model="m", prompt_tokens=10, completion_tokens=3, model_seconds=1.25
)


def test_create_is_conditional_and_round_trips(repository: DocumentRepository) -> None:
    doc = new_document()
    assert repository.create(doc)
    assert not repository.create(doc)
    assert repository.get(doc.id) == doc
    assert repository.get("b" * 32) is None


def test_claim_then_save_summary(repository: DocumentRepository) -> None:
    doc = new_document()
    repository.create(doc)
    now = utc_now()
    claimed = repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (Status.PROCESSING, 1)
    # A second worker cannot claim while the lease is live.
    assert repository.claim(doc.id, 1, now, now + timedelta(minutes=1)) is None

    repository.save_progress(doc.id, 1, Progress(chunks_done=1, chunks_total=2), {"0:0-5": "p"})
    progressed = repository.get(doc.id)
    assert progressed is not None
    assert progressed.progress == Progress(chunks_done=1, chunks_total=2)
    assert progressed.chunk_summaries == {"0:0-5": "p"}

    assert repository.save_summary(doc.id, 1, SUMMARY, utc_now())
    done = repository.get(doc.id)
    assert done is not None
    assert (done.status, done.summary, done.summary_generation) == (Status.DONE, "Short.", 1)
    assert (done.model_seconds, done.progress, done.chunk_summaries) == (1.25, None, {})
    # Nothing can overwrite it or claim it again for the same generation.
    assert not repository.save_summary(doc.id, 1, SUMMARY, utc_now())
    assert repository.claim(doc.id, 1, utc_now(), utc_now()) is None
    assert not repository.mark_failed(doc.id, 1, "late", utc_now())


def test_expired_lease_can_be_claimed(repository: DocumentRepository) -> None:
    doc = new_document()
    repository.create(doc)
    past = utc_now() - timedelta(minutes=10)
    assert repository.claim(doc.id, 1, past, past + timedelta(minutes=1)) is not None
    taken = repository.claim(doc.id, 1, utc_now(), utc_now() + timedelta(minutes=1))
    assert taken is not None
    assert taken.attempts == 2


def test_new_generation_supersedes_the_old_one(repository: DocumentRepository) -> None:
    doc = new_document()
    repository.create(doc)
    now = utc_now()
    repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    repository.save_summary(doc.id, 1, SUMMARY, now)

    again = repository.request_summary(doc.id, utc_now(), "c2")
    assert (again.generation, again.status, again.summary, again.attempts) == (
        2,
        Status.QUEUED,
        "Short.",
        0,
    )
    assert repository.claim(doc.id, 1, utc_now(), utc_now()) is None  # stale generation
    with pytest.raises(DocumentNotFound):
        repository.request_summary("c" * 32, utc_now(), "c")


def test_mark_enqueued_moves_the_enqueue_time_of_the_current_generation(
    repository: DocumentRepository,
) -> None:
    doc = new_document()
    repository.create(doc)
    later = doc.enqueued_at + timedelta(minutes=5)
    repository.mark_enqueued(doc.id, 1, later)
    moved = repository.get(doc.id)
    assert moved is not None
    assert moved.enqueued_at == later
    repository.mark_enqueued(doc.id, 2, later + timedelta(minutes=5))  # not its generation
    unchanged = repository.get(doc.id)
    assert unchanged is not None
    assert unchanged.enqueued_at == later


def test_release_and_fail(repository: DocumentRepository) -> None:
    doc = new_document()
    repository.create(doc)
    now = utc_now()
    repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    repository.release(doc.id, 1, utc_now(), "retrying")
    released = repository.get(doc.id)
    assert released is not None
    assert (released.status, released.error) == (Status.QUEUED, "retrying")
    assert repository.mark_failed(doc.id, 1, "gave up", utc_now())
    failed = repository.get(doc.id)
    assert failed is not None
    assert (failed.status, failed.error) == (Status.FAILED, "gave up")


def test_s3_text_store(aws_env: LocalResources) -> None:
    store = S3TextStore(boto3.client("s3"), aws_env.bucket)
    store.put_text("documents/x.txt", "héllo wörld")
    assert store.get_text("documents/x.txt") == "héllo wörld"
    with pytest.raises(TextMissing):
        store.get_text("documents/missing.txt")
