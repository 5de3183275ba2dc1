"""Riding out model-host outages and deadlines, on the fakes with an injected clock: retries
decided by time (not receive counts), the shared circuit breaker, stable reasons, and an
invocation that runs out of time resuming where it stopped."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import LEASE_EXPIRED, LLM_REASONS, LLMError, NoProgressInTime, gave_up
from docsum.domain.messages import SummarizeRequest
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.retry import CircuitBreaker, backoff_seconds, deliveries_within, jittered
from docsum.platform.settings import Settings
from docsum.ports.llm import ChatAnswer, ChatCall
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.outcomes import Outcome
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker

from tests.conftest import Fakes
from tests.fakes import ManualClock, transient
from tests.unit.test_map_reduce import prose

WINDOW = 3600


@pytest.fixture
def settings() -> Settings:
    return Settings(
        summarize_queue_url="queue",
        api_token=None,
        max_receive_count=30,
        retry_base_seconds=10,
        retry_max_seconds=900,
        retry_window_seconds=WINDOW,
    )


def submitted(fakes: Fakes, text: str = "Cats sleep. Dogs bark.") -> SummarizeRequest:
    fakes.service.submit(text, Submission("corr-1", title="Pets"))
    return fakes.queue.sent[-1]


def deliver(
    fakes: Fakes, request: SummarizeRequest, receive_count: int, lease: float = 600
) -> Outcome:
    delivery = Delivery(request.model_dump_json(), receive_count, f"rh-{receive_count}")
    return fakes.worker.process(delivery, lease_seconds=lease)


def run_outage(fakes: Fakes, request: SummarizeRequest, down_for: float) -> tuple[Outcome, int]:
    """Deliver `request` as SQS would while the host is down for `down_for` seconds: each
    redelivery comes when the worker's backoff said. Returns the outcome and the receives."""
    receives = 0
    started = fakes.clock.now
    while True:
        receives += 1
        host_down = (fakes.clock.now - started).total_seconds() < down_for
        fakes.llm.script = [transient("unreachable")] if host_down else []
        try:
            return deliver(fakes, request, receives), receives
        except RetryLater:
            fakes.clock.advance(seconds=fakes.queue.retries[-1][1])


def test_an_outage_of_most_of_the_window_ends_done_not_failed(
    fakes: Fakes, settings: Settings
) -> None:
    """Before: 5 receives with 10-80 s waits failed a document after ~2.5 minutes."""
    request = submitted(fakes)
    outcome, receives = run_outage(fakes, request, down_for=WINDOW - 300)

    assert outcome is Outcome.DONE
    doc = fakes.repository.items[request.document_id]
    assert (doc.status, doc.error, doc.retrying_since) == (Status.DONE, None, None)
    # Deliveries thin out with time: far fewer than one per base period, within the queue's.
    assert receives <= deliveries_within(WINDOW, 10, 900) < settings.max_receive_count
    assert receives < WINDOW / settings.retry_base_seconds / 10


def test_while_retrying_the_document_is_queued_with_the_reason(fakes: Fakes) -> None:
    request = submitted(fakes)
    fakes.llm.script = [transient("unreachable"), transient("unreachable")]
    for receive in (1, 2):
        with pytest.raises(RetryLater):
            deliver(fakes, request, receive)
        doc = fakes.repository.items[request.document_id]
        assert (doc.status, doc.error) == (Status.QUEUED, "model host unreachable")
        fakes.clock.advance(seconds=fakes.queue.retries[-1][1])
    # The second wait is measured from the first failure, so it grows.
    assert fakes.queue.retries[1][1] >= fakes.queue.retries[0][1]


def test_beyond_the_window_the_document_fails_and_its_message_is_parked(
    fakes: Fakes,
) -> None:
    request = submitted(fakes)
    outcome, receives = run_outage(fakes, request, down_for=10 * WINDOW)

    assert outcome is Outcome.FAILED  # consumed: the worker parked it in the DLQ itself
    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.FAILED
    assert doc.error == "gave up after 60 min of retries: model host unreachable"
    assert [body for body, _ in fakes.queue.dead_letters] == [request.model_dump_json()]
    assert receives <= deliveries_within(WINDOW, 10, 900)


def test_an_open_breaker_puts_other_documents_back_without_calling_the_host(
    fakes: Fakes, settings: Settings
) -> None:
    first = submitted(fakes, "First text.")
    second = submitted(fakes, "Second text.")
    fakes.llm.script = [transient("unreachable")]
    with pytest.raises(RetryLater):
        deliver(fakes, first, 1)
    assert len(fakes.llm.calls) == 1

    with pytest.raises(RetryLater):
        deliver(fakes, second, 1)
    assert len(fakes.llm.calls) == 1  # no probe per document
    doc = fakes.repository.items[second.document_id]
    assert (doc.status, doc.error, doc.attempts) == (Status.QUEUED, "model host unreachable", 0)
    # It comes back after the breaker's open period (jittered upwards), not before.
    delay = fakes.queue.retries[-1][1]
    assert delay >= fakes.worker.breaker.open_seconds() > 0

    # Once the open period is over one delivery probes; the host is back: all go through.
    fakes.clock.advance(seconds=delay)
    assert deliver(fakes, second, 2) is Outcome.DONE
    assert deliver(fakes, first, 2) is Outcome.DONE
    assert len(fakes.llm.calls) == 3


def test_breaker_lets_one_probe_through_and_reopens_for_longer() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(10, 900, clock, lambda low, high: high)
    assert breaker.allow()
    breaker.host_down()
    assert not breaker.allow()
    first_open = breaker.open_seconds()
    clock.advance(seconds=first_open)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # the others wait for its answer
    clock.advance(seconds=100)
    breaker.host_down()
    assert breaker.open_seconds() > first_open
    breaker.host_up()
    assert breaker.allow()
    assert breaker.open_seconds() == 0


def test_backoff_grows_with_time_and_jitter_spreads_it() -> None:
    assert backoff_seconds(0, 10, 900) == 10
    assert backoff_seconds(120, 10, 900) == 120
    assert backoff_seconds(10_000, 10, 900) == 900
    waits = {round(jittered(100, random.Random(seed).uniform)) for seed in range(50)}
    assert min(waits) >= 50
    assert max(waits) <= 100
    assert len(waits) > 10


@pytest.mark.parametrize("kind", sorted(LLM_REASONS))
def test_llm_failures_show_a_stable_reason_never_the_exception_text(
    fakes: Fakes, kind: str
) -> None:
    request = submitted(fakes)
    fakes.llm.script = [
        LLMError(kind, "http://10.0.0.7:11434 said: secret detail", transient=False)
    ]
    assert deliver(fakes, request, 1) is Outcome.FAILED
    doc = fakes.repository.items[request.document_id]
    assert doc.error == LLM_REASONS[kind]
    assert "10.0.0.7" not in (doc.error or "")


def test_an_unexpected_error_shows_a_generic_reason(fakes: Fakes) -> None:
    request = submitted(fakes)
    fakes.llm.script = [RuntimeError("KeyError 'x' in /var/task/secret.py")]
    with pytest.raises(RetryLater):
        deliver(fakes, request, 1)
    assert fakes.repository.items[request.document_id].error == "internal error"


def test_get_reports_an_expired_lease(fakes: Fakes) -> None:
    request = submitted(fakes)
    now = fakes.clock.now
    fakes.repository.claim(request.document_id, 1, now, now + timedelta(seconds=600))
    assert fakes.service.get(request.document_id).error is None
    fakes.clock.advance(seconds=601)
    shown = fakes.service.get(request.document_id)
    assert (shown.status, shown.error) == (Status.PROCESSING, LEASE_EXPIRED)


# ------------------------------------------------------------------------------ deadline


@pytest.fixture
def chunky_settings() -> Settings:
    """A small context window, so a few thousand characters need several chunk calls."""
    return Settings(
        summarize_queue_url="queue",
        api_token=None,
        llm_context_tokens=1024,
        llm_num_predict=64,
        llm_parallel_calls=1,
        deadline_margin_seconds=5,
    )


def _chunky_worker(fakes: Fakes, settings: Settings) -> None:
    fakes.worker = SummarizeWorker(
        fakes.store,
        fakes.repository,
        fakes.queue,
        Summarizer(fakes.llm, ModelBudget.of(settings)),
        WorkerPolicy.of(settings),
        fakes.clock,
    )


def test_out_of_time_keeps_finished_chunks_and_resumes_without_redoing_them(
    fakes: Fakes, chunky_settings: Settings
) -> None:
    _chunky_worker(fakes, chunky_settings)
    fakes.llm.call_seconds = 20  # every chunk call takes 20 s of the invocation
    text = prose(26_000)  # varied: the fake's default answer passes the guard
    request = submitted(fakes, text)

    # 75 s per invocation: after a call of 20 s the next must fit 1.5 x 20 s + the 5 s margin.
    outcomes, calls_per_invocation = [], []
    for _ in range(20):
        before = len(fakes.llm.calls)
        outcome = deliver(fakes, fakes.queue.sent[-1], 1, lease=75)
        outcomes.append(outcome)
        calls_per_invocation.append(len(fakes.llm.calls) - before)
        if outcome is not Outcome.PAUSED:
            break
        doc = fakes.repository.items[request.document_id]
        assert doc.status is Status.QUEUED
        assert doc.retrying_since is None  # running out of time is progress, not failure
        assert doc.progress is not None
        assert len(doc.chunk_summaries) == doc.progress.chunks_done > 0
    assert outcomes[-1] is Outcome.DONE
    assert len(outcomes) > 2
    # Each invocation stopped before overrunning its 75 s: three calls of 20 s at most.
    assert max(calls_per_invocation) == 3
    # No chunk was asked for twice: resumed, never restarted.
    part_texts = [c.user for c in fakes.llm.calls]
    assert len(part_texts) == len(set(part_texts))
    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.DONE
    assert fakes.queue.retries == []  # each pause sent a fresh message, no receive spent


@pytest.mark.parametrize("meanwhile", ["deleted", "asked again"])
def test_a_long_summary_stops_at_its_next_chunk_once_deleted_or_asked_again(
    fakes: Fakes, chunky_settings: Settings, meanwhile: str
) -> None:
    """The refused progress write after the first chunk stops the work: the model is not asked
    for the rest of a summary nobody will keep."""
    _chunky_worker(fakes, chunky_settings)
    request = submitted(fakes, prose(26_000))
    answer = fakes.llm.chat

    def change_it_during_the_first_call(call: ChatCall) -> ChatAnswer:
        if not fakes.llm.calls:
            if meanwhile == "deleted":
                fakes.service.delete(request.document_id)
            else:
                fakes.service.resummarize(request.document_id, "corr-2")
        return answer(call)

    fakes.llm.chat = change_it_during_the_first_call  # type: ignore[method-assign]
    outcome = deliver(fakes, request, 1)

    assert len(fakes.llm.calls) == 1  # of many chunks (parallel calls: 1)
    assert fakes.queue.retries == []
    if meanwhile == "deleted":
        assert outcome is Outcome.GONE
        assert fakes.repository.was_deleted(request.document_id)
    else:
        assert outcome is Outcome.SUPERSEDED
        # The newer request starts afresh and finishes.
        assert deliver(fakes, fakes.queue.sent[-1], 1) is Outcome.DONE
        assert fakes.repository.items[request.document_id].summary_generation == 2


def _refuse_first_answers(fakes: Fakes, settings: Settings) -> None:
    """Every first answer fails the output guard (a refusal); the guard's retry, which asks
    with its own repeat penalty, gets a real summary."""
    retry_penalty = settings.guard_retry_repeat_penalty
    fakes.llm.respond = lambda call: (
        None if call.repeat_penalty == retry_penalty else "I'm sorry, but I can't help with that."
    )


def test_a_guard_retry_counts_toward_the_invocations_first_result(
    fakes: Fakes, chunky_settings: Settings
) -> None:
    """An invocation with time for about one chunk (an answer and the guard's retry) still
    keeps that chunk: the document resumes chunk by chunk and finishes, asking nothing twice."""
    _chunky_worker(fakes, chunky_settings)
    _refuse_first_answers(fakes, chunky_settings)
    fakes.llm.call_seconds = 20
    request = submitted(fakes, prose(6_000))

    # 45 s: the retry fits after a 20 s answer (nothing kept yet), a third call never does.
    outcomes, calls_per_invocation = [], []
    for _ in range(40):
        before = len(fakes.llm.calls)
        outcomes.append(deliver(fakes, fakes.queue.sent[-1], 1, lease=45))
        calls_per_invocation.append(len(fakes.llm.calls) - before)
        if outcomes[-1] is not Outcome.PAUSED:
            break
    assert outcomes[-1] is Outcome.DONE
    assert len(outcomes) > 2  # it really paused and resumed
    assert set(calls_per_invocation) == {2}  # the refused answer and its retry, every time
    asked = [(c.user, c.repeat_penalty, c.seed) for c in fakes.llm.calls]
    assert len(asked) == len(set(asked))  # resumed, never restarted
    assert fakes.queue.retries == []
    assert fakes.repository.items[request.document_id].status is Status.DONE


def test_an_invocation_too_short_for_one_result_is_a_transient_failure_not_a_pause(
    fakes: Fakes, chunky_settings: Settings
) -> None:
    """Pausing without keeping anything would repeat the same calls forever: it is retried
    within the window instead, with a stable reason, and ends `failed` when the window ends."""
    _chunky_worker(fakes, chunky_settings)
    _refuse_first_answers(fakes, chunky_settings)
    fakes.llm.call_seconds = 20
    request = submitted(fakes, prose(6_000))

    # 30 s: after a 20 s answer the guard's retry cannot finish in time.
    with pytest.raises(RetryLater):
        deliver(fakes, request, 1, lease=30)
    doc = fakes.repository.items[request.document_id]
    assert (doc.status, doc.error) == (Status.QUEUED, NoProgressInTime.reason)
    assert doc.chunk_summaries == {}
    assert len(fakes.queue.retries) == 1
    assert len(fakes.queue.sent) == 1  # no fresh message: a pause would have sent one

    fakes.clock.advance(seconds=WINDOW)
    assert deliver(fakes, request, 2, lease=30) is Outcome.FAILED
    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.FAILED
    assert doc.error == gave_up(NoProgressInTime.reason, WINDOW)


def test_the_give_up_reason_names_the_window() -> None:
    assert gave_up("model host unreachable", 3600) == (
        "gave up after 60 min of retries: model host unreachable"
    )
    assert gave_up("x", 20) == "gave up after 20 s of retries: x"


@pytest.mark.parametrize(
    ("kind", "opens"),
    [
        ("unreachable", True),
        ("server_error", True),
        ("stalled", True),  # stopped producing mid-answer: failing
        ("busy", False),  # its queue is full: working, just not for us now
        ("timeout", False),  # no first token in time: maybe busy
    ],
)
def test_the_breaker_opens_for_a_host_that_is_down_not_for_one_that_is_busy(
    fakes: Fakes, kind: str, opens: bool
) -> None:
    first = submitted(fakes, "First text.")
    second = submitted(fakes, "Second text.")
    fakes.llm.script = [transient(kind)]
    with pytest.raises(RetryLater):
        deliver(fakes, first, 1)
    assert (fakes.worker.breaker.open_seconds() > 0) is opens
    doc = fakes.repository.items[first.document_id]
    assert (doc.status, doc.error) == (Status.QUEUED, LLM_REASONS[kind])

    # The next document calls the host at once, unless the breaker is open.
    if opens:
        with pytest.raises(RetryLater):
            deliver(fakes, second, 1)
        assert len(fakes.llm.calls) == 1
    else:
        assert deliver(fakes, second, 1) is Outcome.DONE
        assert len(fakes.llm.calls) == 2
