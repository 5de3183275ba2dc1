"""One contract, two implementations: the in-memory fake and DynamoDB (moto, table from
template.yaml). The fake is only trustworthy while both pass the same tests."""

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from docsum.adapters.dynamodb import DynamoDocumentRepository
from docsum.adapters.rate_limit import DynamoRateLimiter
from docsum.adapters.s3 import S3TextStore
from docsum.domain.document import (
    Citation,
    Document,
    Extraction,
    GroundingStats,
    Progress,
    Source,
    Status,
    Summary,
    SummaryMethod,
    SummarySentence,
    utc_now,
)
from docsum.domain.errors import DocumentNotFound, FileTooLarge, InvalidCursor, TextMissing
from docsum.domain.files import FileKind
from docsum.domain.options import SummaryLength, SummaryOptions
from docsum.domain.paging import encode_cursor
from docsum.ports.rate_limit import RateLimiter
from docsum.ports.repository import DocumentRepository, Release

from infra.bootstrap import LocalResources
from tests.fakes import InMemoryDocumentRepository, InMemoryRateLimiter


@pytest.fixture(params=["memory", "dynamodb"])
def repository(request: pytest.FixtureRequest) -> Iterator[DocumentRepository]:
    if request.param == "memory":
        yield InMemoryDocumentRepository()
    else:
        resources: LocalResources = request.getfixturevalue("aws_env")
        yield DynamoDocumentRepository(boto3.resource("dynamodb").Table(resources.table))


def new_document(
    doc_id: str = "a" * 32,
    owner: str = "default",
    created_at: datetime | None = None,
    text_key: str | None = None,
    expires_at: int | None = None,
) -> Document:
    now = created_at or utc_now()
    return Document(
        id=doc_id,
        owner=owner,
        expires_at=expires_at,
        title="T",
        text_key=text_key or f"documents/{doc_id}.txt",
        text_chars=5,
        created_at=now,
        updated_at=now,
        enqueued_at=now,
        due_at=now,
        correlation_id="c",
    )


SUMMARY = Summary(
    text="Short.",
    model="m",
    prompt_tokens=10,
    completion_tokens=3,
    model_seconds=1.25,
    language="de",
    verbatim=True,
    method=SummaryMethod.EXTRACTIVE,
    sentences=[
        SummarySentence(
            text="Short.",
            support=0.875,
            sources=[Citation(start=0, end=6, page=1), Citation(start=40, end=52)],
        )
    ],
    grounding=GroundingStats(supported=1, total=1, min_support=0.875, dropped=2),
    note="a note",
)


def test_create_is_conditional_and_round_trips(repository: DocumentRepository) -> None:
    doc = new_document().model_copy(
        update={"options": SummaryOptions(length=SummaryLength.SHORT, language="fr")}
    )
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

    assert repository.save_progress(
        doc.id, 1, Progress(chunks_done=1, chunks_total=2), {"0:0-5": "p"}
    )
    assert not repository.save_progress(doc.id, 2, Progress(chunks_done=2, chunks_total=2), {})
    progressed = repository.get(doc.id)
    assert progressed is not None
    assert progressed.progress == Progress(chunks_done=1, chunks_total=2)
    assert progressed.chunk_summaries == {"0:0-5": "p"}

    assert repository.save_summary(doc.id, 1, SUMMARY, utc_now())
    done = repository.get(doc.id)
    assert done is not None
    assert (done.status, done.summary, done.summary_generation) == (Status.DONE, "Short.", 1)
    assert (done.model_seconds, done.progress, done.chunk_summaries) == (1.25, None, {})
    assert (done.language, done.summary_verbatim, done.llm_calls) == ("de", True, 1)
    # Citations and grounding round-trip (floats nested in lists and maps included).
    assert (done.method, done.note) == (SummaryMethod.EXTRACTIVE, "a note")
    assert (done.sentences, done.grounding) == (SUMMARY.sentences, SUMMARY.grounding)
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
    repository.release(doc.id, 1, utc_now(), Release("retrying"))
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


def test_s3_delete_removes_every_version(aws_env: LocalResources) -> None:
    s3 = boto3.client("s3")
    store = S3TextStore(s3, aws_env.bucket)
    store.put_text("documents/o/d.txt", "first")
    store.put_text("documents/o/d.txt", "second")  # the bucket is versioned: two versions
    store.put_text("documents/o/d.txt.keep", "another object")
    store.delete("documents/o/d.txt")
    left = s3.list_object_versions(Bucket=aws_env.bucket, Prefix="documents/o/")
    assert [v["Key"] for v in left.get("Versions", [])] == ["documents/o/d.txt.keep"]
    assert not left.get("DeleteMarkers")
    store.delete("documents/o/absent.txt")  # absent is fine


def test_delete_leaves_a_tombstone_nothing_can_revive(repository: DocumentRepository) -> None:
    doc = new_document()
    repository.create(doc)
    now = utc_now()
    assert repository.claim(doc.id, 1, now, now + timedelta(minutes=1)) is not None

    assert repository.delete(doc.id, utc_now())
    assert not repository.delete(doc.id, utc_now())  # already gone
    assert repository.get(doc.id) is None
    assert repository.was_deleted(doc.id)
    assert not repository.was_deleted("b" * 32)
    # A worker that was summarizing it can neither update nor recreate it.
    assert not repository.save_progress(doc.id, 1, Progress(chunks_done=1, chunks_total=2), {})
    assert not repository.save_summary(doc.id, 1, SUMMARY, utc_now())
    assert not repository.mark_failed(doc.id, 1, "late", utc_now())
    repository.release(doc.id, 1, utc_now(), Release("late"))
    repository.mark_enqueued(doc.id, 1, utc_now())
    assert repository.claim(doc.id, 1, utc_now(), utc_now() + timedelta(minutes=1)) is None
    with pytest.raises(DocumentNotFound):
        repository.request_summary(doc.id, utc_now(), "c")
    assert repository.get(doc.id) is None
    assert repository.list_owned("default", 10, None, None, utc_now()).items == []
    # Submitting the same content again creates the document afresh.
    again = new_document()
    assert repository.create(again)
    assert repository.get(doc.id) == again
    assert not repository.was_deleted(doc.id)


def test_an_expired_record_may_be_replaced(repository: DocumentRepository) -> None:
    start = utc_now()
    old = new_document(created_at=start, expires_at=int(start.timestamp()) + 60)
    assert repository.create(old)
    assert not repository.create(new_document(created_at=start + timedelta(seconds=30)))
    fresh = new_document(created_at=start + timedelta(seconds=61))
    assert repository.create(fresh)
    assert repository.get(fresh.id) == fresh


def test_list_owned_newest_first_in_pages(repository: DocumentRepository) -> None:
    start = utc_now()
    mine = [
        new_document(f"{i:032x}", owner="alice", created_at=start + timedelta(seconds=i))
        for i in range(5)
    ]
    for doc in mine:
        repository.create(doc)
    repository.create(new_document("f" * 32, owner="bob", created_at=start + timedelta(hours=1)))
    now = start + timedelta(minutes=1)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = repository.list_owned("alice", 2, cursor, None, now)
        pages += 1
        assert len(page.items) <= 2
        seen += [d.id for d in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [d.id for d in reversed(mine)]
    assert pages == 3  # 2 + 2 + 1: the last page says it is the last
    assert [d.id for d in repository.list_owned("bob", 10, None, None, now).items] == ["f" * 32]

    # A cursor is only a position: in Bob's hands it pages Bob's own documents.
    first = repository.list_owned("alice", 2, None, None, now)
    assert first.next_cursor is not None
    assert repository.list_owned("bob", 2, first.next_cursor, None, now).items == []
    later = encode_cursor(start + timedelta(hours=2), "0" * 32)
    assert [d.id for d in repository.list_owned("bob", 2, later, None, now).items] == ["f" * 32]
    with pytest.raises(InvalidCursor):
        repository.list_owned("alice", 2, "not-a-cursor!", None, now)


def test_list_owned_filters_by_status_and_hides_expired(repository: DocumentRepository) -> None:
    start = utc_now()
    docs = [
        new_document(f"{i:032x}", owner="alice", created_at=start + timedelta(seconds=i))
        for i in range(6)
    ]
    expiring = new_document(
        "e" * 32, owner="alice", created_at=start, expires_at=int(start.timestamp()) + 30
    )
    for doc in [*docs, expiring]:
        repository.create(doc)
    for doc in docs[::2]:  # 0, 2, 4 done
        repository.claim(doc.id, 1, start, start + timedelta(minutes=1))
        repository.save_summary(doc.id, 1, SUMMARY, start)

    now = start + timedelta(seconds=10)
    listed = repository.list_owned("alice", 100, None, None, now).items
    assert "e" * 32 in [d.id for d in listed]
    later = start + timedelta(seconds=31)
    listed = repository.list_owned("alice", 100, None, None, later).items
    assert [d.id for d in listed] == [d.id for d in reversed(docs)]

    done: list[str] = []
    cursor = None
    while True:  # a page size smaller than the matches: the filter must keep filling pages
        page = repository.list_owned("alice", 2, cursor, Status.DONE, later)
        done += [d.id for d in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert done == [docs[4].id, docs[2].id, docs[0].id]
    queued = repository.list_owned("alice", 100, None, Status.QUEUED, later).items
    assert [d.id for d in queued] == [docs[5].id, docs[3].id, docs[1].id]


def test_text_in_use(repository: DocumentRepository) -> None:
    shared = "documents/alice/digest.txt"
    first = new_document("1" * 32, owner="alice", text_key=shared)
    second = new_document("2" * 32, owner="alice", text_key=shared)
    repository.create(first)
    repository.create(second)
    assert repository.text_in_use(shared)
    repository.delete(first.id, utc_now())
    assert repository.text_in_use(shared)
    repository.delete(second.id, utc_now())
    assert not repository.text_in_use(shared)
    assert not repository.text_in_use("documents/alice/other.txt")


@pytest.fixture(params=["memory", "dynamodb"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return InMemoryRateLimiter(requests=2, window_seconds=60)
    resources: LocalResources = request.getfixturevalue("aws_env")
    return DynamoRateLimiter(boto3.resource("dynamodb").Table(resources.table), 2, 60)


def test_rate_limiter_fixed_windows_per_client(limiter: RateLimiter) -> None:
    start = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)  # 10 s into a window
    assert limiter.hit("alice", start) is None
    assert limiter.hit("alice", start) is None
    assert limiter.hit("alice", start) == 50  # until the window ends
    assert limiter.hit("alice", start + timedelta(seconds=49.5)) == 1  # never 0
    assert limiter.hit("bob", start) is None  # every client has its own window
    assert limiter.hit("alice", start + timedelta(seconds=50)) is None  # the next window


def test_a_sparse_status_filter_pages_through_a_large_listing(
    repository: DocumentRepository,
) -> None:
    start = utc_now()
    docs = [
        new_document(f"{i:032x}", owner="alice", created_at=start + timedelta(seconds=i))
        for i in range(130)
    ]
    for doc in docs:
        repository.create(doc)
    done = [docs[5], docs[64], docs[128]]
    for doc in done:
        repository.claim(doc.id, 1, start, start + timedelta(minutes=1))
        repository.save_summary(doc.id, 1, SUMMARY, start)
    now = start + timedelta(minutes=5)

    first = repository.list_owned("alice", 2, None, Status.DONE, now)
    assert [d.id for d in first.items] == [docs[128].id, docs[64].id]
    assert first.next_cursor is not None
    last = repository.list_owned("alice", 2, first.next_cursor, Status.DONE, now)
    assert ([d.id for d in last.items], last.next_cursor) == ([docs[5].id], None)


def test_an_upload_arrives_once_and_its_extraction_is_recorded(
    repository: DocumentRepository,
) -> None:
    doc = new_document().model_copy(
        update={
            "status": Status.UPLOADING,
            "title": None,
            "text_chars": 0,
            "source": Source(kind=FileKind.PDF, filename="a.pdf", bytes=10),
            "original_key": "uploads/x",
            "expires_at": 2_000_000_000,
        }
    )
    repository.create(doc)
    assert repository.get(doc.id) == doc
    arrived = repository.mark_uploaded(doc.id, utc_now(), 2_100_000_000, "v1")  # retention
    assert arrived is not None
    assert (arrived.status, arrived.expires_at) == (Status.QUEUED, 2_100_000_000)
    assert arrived.upload_version == "v1"  # the file that counts
    # A repeated S3 event, or a later post to the same form: the first arrival stays.
    assert repository.mark_uploaded(doc.id, utc_now(), None, "v2") is None
    again = repository.get(doc.id)
    assert again is not None
    assert again.upload_version == "v1"

    # The page map and how the text was obtained, OCR's confidence a float inside the source
    # (DynamoDB takes Decimals only).
    source = Source(
        kind=FileKind.PDF,
        filename="a.pdf",
        bytes=12,
        pages=3,
        page_starts=[0, 120, 120],
        extraction=Extraction(method="mixed", pages=3, ocr_pages=1, confidence=0.913),
    )
    repository.save_extraction(doc.id, 1, 42, "From the file", source)  # not processing: no-op
    assert repository.get(doc.id) == arrived
    now = utc_now()
    repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    repository.save_extraction(doc.id, 1, 42, "From the file", source)
    extracted = repository.get(doc.id)
    assert extracted is not None
    assert (extracted.text_chars, extracted.title, extracted.source) == (
        42,
        "From the file",
        source,
    )


def test_extraction_stores_the_title_it_is_given_and_none_keeps_the_stored_one(
    repository: DocumentRepository,
) -> None:
    # The worker decides (a client's title is kept, a re-fetched page's new title replaces
    # the last fetch's); the repository stores what it is given.
    doc = new_document()
    repository.create(doc)
    now = utc_now()
    repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    repository.save_extraction(doc.id, 1, 7, None, Source(kind=FileKind.TEXT))
    assert (kept := repository.get(doc.id)) is not None
    assert kept.title == "T"
    page = Source(url="https://example.org/news", kind=FileKind.HTML, title_from_page=True)
    repository.save_extraction(doc.id, 1, 7, "Page title", page)
    assert (extracted := repository.get(doc.id)) is not None
    assert (extracted.title, extracted.source) == ("Page title", page)


def test_s3_file_store_and_presigned_post_policy(aws_env: LocalResources) -> None:
    store = S3TextStore(boto3.client("s3"), aws_env.bucket)
    store.put_bytes("originals/x", b"%PDF-1.7 bytes", "application/pdf")
    assert store.get_bytes("originals/x", 100) == b"%PDF-1.7 bytes"
    with pytest.raises(FileTooLarge):
        store.get_bytes("originals/x", 5)
    with pytest.raises(TextMissing):
        store.get_bytes("originals/missing", 5)
    # The bucket is versioned: one version can be read, or removed, leaving the others.
    s3 = boto3.client("s3")
    first = s3.put_object(Bucket=aws_env.bucket, Key="uploads/v", Body=b"first")["VersionId"]
    later = s3.put_object(Bucket=aws_env.bucket, Key="uploads/v", Body=b"later")["VersionId"]
    assert store.get_bytes("uploads/v", 100) == b"later"
    assert store.get_bytes("uploads/v", 100, first) == b"first"
    store.delete_version("uploads/v", later)
    assert store.get_bytes("uploads/v", 100) == b"first"

    post = store.presign_post("uploads/abc", "application/pdf", 12_345, 600)
    assert post.fields["key"] == "uploads/abc"
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    # moto accepts any POST: the conditions S3 enforces in the cloud are checked here.
    assert ["content-length-range", 1, 12_345] in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert {"key": "uploads/abc"} in policy["conditions"]
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert timedelta(seconds=590) < expiration - utc_now() <= timedelta(seconds=600)


def test_release_records_when_to_retry_and_when_failures_began(
    repository: DocumentRepository,
) -> None:
    doc = new_document()
    repository.create(doc)
    start = utc_now()
    repository.claim(doc.id, 1, start, start + timedelta(minutes=10))
    retry_at = start + timedelta(seconds=30)
    released = repository.release(doc.id, 1, start, Release("model host unreachable", retry_at))
    assert released is not None
    assert (released.status, released.due_at, released.retrying_since) == (
        Status.QUEUED,
        retry_at,
        start,
    )
    # A later failure keeps the first failure time; one decided without the lease needs the
    # document queued, and a pause (not a failure) starts no window.
    later = start + timedelta(minutes=5)
    again = repository.release(doc.id, 1, later, Release("again", later, held=False))
    assert again is not None
    assert again.retrying_since == start
    assert repository.release(doc.id, 1, later, Release("not held", held=True)) is None

    other = new_document("b" * 32)
    repository.create(other)
    repository.claim(other.id, 1, start, start + timedelta(minutes=10))
    paused = repository.release(other.id, 1, start, Release("paused", failed=False))
    assert paused is not None
    assert paused.retrying_since is None

    assert repository.mark_failed(doc.id, 1, "gave up", later)
    failed = repository.get(doc.id)
    assert failed is not None
    # `failed` is final for its generation: when its failures began stays on the record.
    assert (failed.due_at, failed.retrying_since) == (None, start)


def test_overdue_finds_expired_leases_and_stuck_queued_documents_only(
    repository: DocumentRepository,
) -> None:
    now = utc_now()
    stuck, waiting, expired, live, done = (new_document(c * 32) for c in "abcde")
    for doc in (stuck, waiting, expired, live, done):
        repository.create(doc)
    repository.mark_enqueued(stuck.id, 1, now - timedelta(hours=1))
    repository.mark_enqueued(waiting.id, 1, now - timedelta(minutes=1))
    repository.claim(expired.id, 1, now - timedelta(hours=1), now - timedelta(seconds=1))
    repository.claim(live.id, 1, now, now + timedelta(minutes=10))
    repository.claim(done.id, 1, now, now + timedelta(minutes=10))
    repository.save_summary(done.id, 1, SUMMARY, now)

    found = repository.overdue(now, now - timedelta(minutes=15), limit=10)
    assert sorted(d.id for d in found) == sorted([stuck.id, expired.id])
    assert len(repository.overdue(now, now - timedelta(minutes=15), limit=1)) == 1


def test_requeue_only_if_unchanged_since_seen(repository: DocumentRepository) -> None:
    now = utc_now()
    doc = new_document()
    repository.create(doc)
    repository.claim(doc.id, 1, now - timedelta(hours=1), now - timedelta(seconds=1))
    [seen] = repository.overdue(now, now, limit=10)
    requeued = repository.requeue(seen, now, now + timedelta(hours=1), "lease gone")
    assert requeued is not None
    assert (requeued.status, requeued.error, requeued.processing_until) == (
        Status.QUEUED,
        "lease gone",
        None,
    )
    assert (requeued.due_at, requeued.retrying_since) == (now + timedelta(hours=1), now)
    # Whoever read the same row and comes second changes nothing.
    assert repository.requeue(seen, now, now, "lease gone") is None


def test_failed_and_done_are_final_for_their_generation(repository: DocumentRepository) -> None:
    now = utc_now()
    failed, done = new_document("a" * 32), new_document("b" * 32)
    for doc in (failed, done):
        repository.create(doc)
        repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    assert repository.mark_failed(failed.id, 1, "gave up", now)
    assert repository.save_summary(done.id, 1, SUMMARY, now)
    later = now + timedelta(hours=1)  # long after any lease
    for doc in (failed, done):
        assert repository.claim(doc.id, 1, later, later + timedelta(minutes=1)) is None
    assert not repository.save_summary(failed.id, 1, SUMMARY, later)  # never flips to done
    # A re-summarize (a new generation) is what starts work again.
    repository.request_summary(failed.id, later, "c2")
    assert repository.claim(failed.id, 2, later, later + timedelta(minutes=1)) is not None


def test_the_claim_counts_the_attempts_no_worker_finished(repository: DocumentRepository) -> None:
    now = utc_now()
    doc = new_document()
    repository.create(doc)

    def claim() -> int:
        nonlocal now
        now += timedelta(minutes=2)  # past the previous lease: its worker died
        claimed = repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
        assert claimed is not None
        return claimed.unfinished_attempts

    def requeue_expired() -> None:
        nonlocal now
        now += timedelta(minutes=2)
        [seen] = repository.overdue(now, now, limit=10)
        assert repository.requeue(seen, now, now, "lease gone") is not None

    assert [claim(), claim()] == [1, 2]
    # The sweeper putting a dead worker's document back counts nothing and resets nothing.
    requeue_expired()
    assert claim() == 3
    # An attempt that ends on its own (a retry, a pause) ends the series.
    repository.release(doc.id, 1, now, Release("model host unreachable"))
    assert claim() == 1
    repository.release(doc.id, 1, now, Release("paused", failed=False))
    assert claim() == 1
    # A release by a delivery that never held the document does not.
    requeue_expired()
    repository.release(doc.id, 1, now, Release("breaker open", held=False))
    assert claim() == 2
    again = repository.request_summary(doc.id, now, "c2")
    assert again.unfinished_attempts == 0


def test_active_work_counts_a_clients_unfinished_documents(repository: DocumentRepository) -> None:
    now = utc_now()
    queued, processing, done, failed = (new_document(c * 32) for c in "abcd")
    expired = new_document("f" * 32, expires_at=int(now.timestamp()) - 1)
    other = new_document("e" * 32, owner="bob")
    uploading = new_document("9" * 32).model_copy(
        update={"status": Status.UPLOADING, "text_chars": 0}
    )
    for doc in (queued, processing, done, failed, other, expired, uploading):
        repository.create(doc)
    for doc in (processing, done, failed):
        repository.claim(doc.id, 1, now, now + timedelta(minutes=1))
    repository.save_summary(done.id, 1, SUMMARY, now)
    repository.mark_failed(failed.id, 1, "gave up", now)
    # queued, processing (5 characters each) and the upload; not the finished or expired ones.
    assert repository.active_work("default", now) == (3, 10)
    assert repository.active_work("bob", now) == (1, 5)
    assert repository.active_work("nobody", now) == (0, 0)
    # A re-summarize makes a finished document active again.
    repository.request_summary(done.id, now, "c2")
    assert repository.active_work("default", now) == (4, 15)
