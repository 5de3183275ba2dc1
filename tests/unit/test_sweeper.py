"""The sweeper on the fakes with an injected clock: a lost send and a worker killed on its last
delivery are recovered, live work is left alone, and a document past the retry window fails."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import LEASE_EXPIRED
from docsum.domain.messages import SummarizeRequest
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.push.events import CompletionPublisher
from docsum.recovery.sweeper import Sweeper, SweepPolicy
from docsum.worker.outcomes import Outcome

from tests.conftest import Fakes
from tests.fakes import InMemoryWebhookQueue, RecordingEventPublisher

STUCK_AFTER = 900
WINDOW = 3600


@pytest.fixture
def settings() -> Settings:
    return Settings(
        summarize_queue_url="queue",
        api_token=None,
        sweep_stuck_after_seconds=STUCK_AFTER,
        retry_window_seconds=WINDOW,
    )


@pytest.fixture
def sweeper(fakes: Fakes, settings: Settings) -> Sweeper:
    return Sweeper(
        fakes.repository, fakes.queue, SweepPolicy.of(settings), fakes.clock, fakes.metrics
    )


class LostSend(Exception):
    pass


def submit_losing_the_send(fakes: Fakes) -> str:
    """The API wrote the text and the record, then died before the SQS send."""
    send = fakes.queue.send

    def lose(request: SummarizeRequest) -> None:
        raise LostSend

    fakes.queue.send = lose  # type: ignore[method-assign]
    with pytest.raises(LostSend):
        fakes.service.submit(
            "A text whose message was never sent.", Submission("corr-lost", title="Lost")
        )
    fakes.queue.send = send  # type: ignore[method-assign]
    [doc_id] = fakes.repository.items
    return doc_id


def deliver(fakes: Fakes, request: SummarizeRequest, lease: float = 600) -> Outcome:
    return fakes.worker.process(Delivery(request.model_dump_json(), 1, "rh"), lease)


def test_a_lost_send_is_recovered(fakes: Fakes, sweeper: Sweeper) -> None:
    doc_id = submit_losing_the_send(fakes)
    assert fakes.queue.sent == []

    fakes.clock.advance(seconds=STUCK_AFTER - 1)
    assert sweeper.sweep().resent == []  # it may just be waiting in a backlog
    fakes.clock.advance(seconds=2)
    assert sweeper.sweep().resent == [doc_id]
    assert fakes.metrics.counts["SweptDocuments"] == 1
    [message] = fakes.queue.sent
    assert (message.document_id, message.generation, message.correlation_id) == (
        doc_id,
        1,
        "corr-lost",
    )
    assert deliver(fakes, message) is Outcome.DONE
    assert fakes.repository.items[doc_id].status is Status.DONE
    fakes.clock.advance(seconds=10 * STUCK_AFTER)
    assert sweeper.sweep().as_dict() == {"resent": 0, "recovered": 0, "failed": 0}


def test_a_waiting_document_is_resent_ever_less_often(fakes: Fakes, sweeper: Sweeper) -> None:
    """A document merely stuck in a long backlog gets a few harmless duplicates, not one per
    sweep: each re-send waits twice as long as the one before."""
    doc_id = submit_losing_the_send(fakes)
    resent_at: list[float] = []
    for minute in range(1, 24 * 60, 5):
        fakes.clock.advance(seconds=300)
        if sweeper.sweep().resent == [doc_id]:
            resent_at.append(minute)
    gaps = [b - a for a, b in itertools.pairwise(resent_at)]
    assert len(resent_at) <= 8
    assert gaps == sorted(gaps)
    assert gaps[-1] > 4 * gaps[0]


def test_a_worker_killed_on_its_last_delivery_is_recovered(fakes: Fakes, sweeper: Sweeper) -> None:
    fakes.service.submit("A text whose worker died.", Submission("corr-k", title="Killed"))
    [request] = fakes.queue.sent
    now = fakes.clock.now
    # The claim is all the dead worker did; its message went on to the DLQ.
    assert fakes.repository.claim(request.document_id, 1, now, now + timedelta(seconds=600))

    fakes.clock.advance(seconds=599)
    assert sweeper.sweep().recovered == []  # the lease still runs
    assert fakes.service.get(request.document_id).error is None
    fakes.clock.advance(seconds=2)
    assert fakes.service.get(request.document_id).error == LEASE_EXPIRED  # honest meanwhile
    assert sweeper.sweep().recovered == [request.document_id]

    doc = fakes.repository.items[request.document_id]
    assert (doc.status, doc.error, doc.processing_until) == (Status.QUEUED, LEASE_EXPIRED, None)
    assert doc.retrying_since == fakes.clock.now  # a failure: the retry window starts
    resent = fakes.queue.sent[-1]
    assert deliver(fakes, resent) is Outcome.DONE
    doc = fakes.repository.items[request.document_id]
    assert (doc.status, doc.error, doc.attempts) == (Status.DONE, None, 2)


def test_a_document_that_keeps_killing_its_workers_fails_after_the_window(
    fakes: Fakes, sweeper: Sweeper
) -> None:
    fakes.service.submit("A text that crashes every worker.", Submission("corr-p", title="Poison"))
    doc_id = fakes.queue.sent[0].document_id
    for _ in range(100):
        now = fakes.clock.now
        fakes.repository.claim(doc_id, 1, now, now + timedelta(seconds=600))
        fakes.clock.advance(seconds=601)
        if sweeper.sweep().failed:
            break
        fakes.clock.advance(seconds=STUCK_AFTER)
    doc = fakes.repository.items[doc_id]
    assert doc.status is Status.FAILED
    assert doc.error == "gave up after 60 min of retries: worker stopped before finishing"
    assert doc.due_at is None  # out of the sweeper's index
    assert doc.retrying_since is not None  # final: when its failures began stays on record


def test_a_document_the_sweeper_fails_is_announced(fakes: Fakes, settings: Settings) -> None:
    events = RecordingEventPublisher()
    sweeper = Sweeper(
        fakes.repository,
        fakes.queue,
        SweepPolicy.of(settings),
        fakes.clock,
        fakes.metrics,
        notifier=CompletionPublisher(events, InMemoryWebhookQueue()),
    )
    fakes.service.submit("A text that crashes every worker.", Submission("corr-p", title="Poison"))
    doc_id = fakes.queue.sent[0].document_id
    while not events.events:
        now = fakes.clock.now
        fakes.repository.claim(doc_id, 1, now, now + timedelta(seconds=600))
        fakes.clock.advance(seconds=601 + STUCK_AFTER)
        sweeper.sweep()
    [(detail_type, detail)] = events.events
    assert (detail_type, detail["id"], detail["status"]) == ("Document Failed", doc_id, "failed")


def test_live_and_finished_documents_are_left_alone(fakes: Fakes, sweeper: Sweeper) -> None:
    fakes.service.submit("Done already.", Submission("c1"))
    fakes.service.submit("Being summarized.", Submission("c2"))
    done, busy = fakes.queue.sent
    assert deliver(fakes, done) is Outcome.DONE
    now = fakes.clock.now
    fakes.repository.claim(busy.document_id, 1, now, now + timedelta(hours=2))
    fakes.clock.advance(seconds=3600)
    assert sweeper.sweep().as_dict() == {"resent": 0, "recovered": 0, "failed": 0}
    assert len(fakes.queue.sent) == 2


def test_two_sweepers_resend_once(fakes: Fakes, sweeper: Sweeper, settings: Settings) -> None:
    doc_id = submit_losing_the_send(fakes)
    fakes.clock.advance(seconds=STUCK_AFTER + 1)
    [seen] = fakes.repository.overdue(fakes.clock.now, fakes.clock.now, 10)
    assert sweeper.sweep().resent == [doc_id]
    # A second sweeper that read the same row before the first one wrote it loses the race.
    other = Sweeper(
        fakes.repository, fakes.queue, SweepPolicy.of(settings), fakes.clock, fakes.metrics
    )
    assert fakes.repository.requeue(seen, fakes.clock.now, fakes.clock.now, None) is None
    assert other.sweep().resent == []
    assert len(fakes.queue.sent) == 1
