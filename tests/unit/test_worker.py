from datetime import timedelta

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import LLMError
from docsum.domain.messages import SummarizeRequest
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.settings import Settings
from docsum.worker.outcomes import Outcome

from tests.conftest import Fakes
from tests.fakes import transient


def deliver(fakes: Fakes, request: SummarizeRequest, receive_count: int = 1) -> Outcome:
    delivery = Delivery(
        body=request.model_dump_json(), receive_count=receive_count, receipt_handle="rh-1"
    )
    return fakes.worker.process(delivery, lease_seconds=60)


PETS = (
    "Cats sleep most of the day in warm places. Dogs bark at strangers and guard the house. "
    "Both are loved as pets."
)


def submitted(fakes: Fakes, text: str = PETS) -> SummarizeRequest:
    fakes.service.submit(text, Submission("corr-1", title="Pets"))
    return fakes.queue.sent[-1]


def test_a_delivery_produces_a_stored_summary(fakes: Fakes) -> None:
    fakes.llm.script = ["Here is a summary:\n## Pets\nCats sleep and dogs bark."]
    request = submitted(fakes)

    assert deliver(fakes, request) is Outcome.DONE

    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.DONE
    assert doc.summary == "Cats sleep and dogs bark."
    assert (doc.model, doc.attempts, doc.error) == ("fake:1b", 1, None)
    assert doc.prompt_tokens
    assert doc.completion_tokens
    assert doc.model_seconds == 0.5
    assert len(fakes.llm.calls) == 1


def test_llm_options_are_explicit_and_the_context_fits_the_prompt(
    fakes: Fakes, settings: Settings
) -> None:
    request = submitted(fakes, " ".join(f"w{i}" for i in range(2500)))  # varied words
    deliver(fakes, request)
    [call] = fakes.llm.calls
    assert call.num_predict == settings.llm_num_predict
    assert call.temperature == settings.llm_temperature
    assert call.num_ctx >= len(call.user) / settings.llm_chars_per_token + call.num_predict
    assert call.num_ctx <= settings.llm_context_tokens


def test_summary_is_never_longer_than_the_limit(fakes: Fakes) -> None:
    fakes.llm.script = ["A sentence that goes on. " * 400]
    request = submitted(fakes)
    deliver(fakes, request)
    assert len(fakes.repository.items[request.document_id].summary or "") <= 1500


def test_duplicate_delivery_makes_no_second_llm_call(fakes: Fakes) -> None:
    request = submitted(fakes)
    assert deliver(fakes, request) is Outcome.DONE
    assert deliver(fakes, request, receive_count=2) is Outcome.DUPLICATE
    assert len(fakes.llm.calls) == 1


def test_stale_message_after_resummarize_is_dropped(fakes: Fakes) -> None:
    old = submitted(fakes)
    fakes.service.resummarize(old.document_id, "r")
    assert deliver(fakes, old) is Outcome.STALE
    assert not fakes.llm.calls


def test_late_duplicate_never_overwrites_a_newer_summary(fakes: Fakes) -> None:
    first = submitted(fakes)
    deliver(fakes, first)
    fakes.service.resummarize(first.document_id, "r")
    second = fakes.queue.sent[-1]
    fakes.llm.script = ["The newer summary."]
    assert deliver(fakes, second) is Outcome.DONE

    assert deliver(fakes, first, receive_count=2) is Outcome.STALE
    doc = fakes.repository.items[first.document_id]
    assert (doc.summary, doc.summary_generation) == ("The newer summary.", 2)


def test_transient_failure_requeues_with_backoff_and_reports_failure(
    fakes: Fakes, settings: Settings
) -> None:
    fakes.llm.script = [transient("unreachable")]
    request = submitted(fakes)

    with pytest.raises(RetryLater):
        deliver(fakes, request, receive_count=2)

    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.QUEUED
    assert doc.error == "model host unreachable"  # stable text, no exception details
    assert doc.retrying_since == fakes.clock.now
    # The first failure waits the base backoff (the receive count plays no part).
    assert fakes.queue.retries == [("rh-1", settings.retry_base_seconds)]


def test_transient_failure_then_success_completes(fakes: Fakes) -> None:
    fakes.llm.script = [transient("timeout"), "Recovered summary."]
    request = submitted(fakes)
    with pytest.raises(RetryLater):
        deliver(fakes, request, receive_count=1)
    assert deliver(fakes, request, receive_count=2) is Outcome.DONE
    doc = fakes.repository.items[request.document_id]
    assert (doc.status, doc.summary, doc.attempts, doc.error) == (
        Status.DONE,
        "Recovered summary.",
        2,
        None,
    )


def test_last_attempt_marks_failed_before_the_message_goes_to_the_dlq(
    fakes: Fakes, settings: Settings
) -> None:
    fakes.llm.script = [transient("server_error")]
    request = submitted(fakes)

    with pytest.raises(RetryLater):  # still reported failed: SQS moves it to the DLQ
        deliver(fakes, request, receive_count=settings.max_receive_count)

    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.FAILED
    assert "gave up after 3 attempts" in (doc.error or "")
    assert fakes.queue.retries == [("rh-1", 0)]


def test_unexpected_errors_are_retried_like_transient_ones(fakes: Fakes) -> None:
    fakes.llm.script = [RuntimeError("bug")]
    request = submitted(fakes)
    with pytest.raises(RetryLater):
        deliver(fakes, request)
    assert fakes.repository.items[request.document_id].status is Status.QUEUED


def test_permanent_llm_error_fails_without_retry(fakes: Fakes) -> None:
    fakes.llm.script = [LLMError("rejected", "400 bad request", transient=False)]
    request = submitted(fakes)
    assert deliver(fakes, request) is Outcome.FAILED
    assert fakes.repository.items[request.document_id].status is Status.FAILED
    assert not fakes.queue.retries


def test_missing_text_fails_the_document_without_retry(fakes: Fakes) -> None:
    request = submitted(fakes)
    fakes.store.objects.clear()
    assert deliver(fakes, request) is Outcome.FAILED
    doc = fakes.repository.items[request.document_id]
    assert doc.status is Status.FAILED
    assert doc.error == "document text is missing"
    assert not fakes.llm.calls


def test_malformed_message_is_parked_and_its_document_failed(fakes: Fakes) -> None:
    request = submitted(fakes)
    body = f'{{"document_id": "{request.document_id}", "generation": "soon"}}'
    outcome = fakes.worker.process(Delivery(body, 1, "rh"), lease_seconds=60)

    assert outcome is Outcome.PARKED
    assert fakes.queue.dead_letters[0][0] == body
    assert fakes.repository.items[request.document_id].status is Status.FAILED


@pytest.mark.parametrize("body", ["not json", "[]", '{"document_id": "../etc"}'])
def test_unparseable_messages_are_parked(fakes: Fakes, body: str) -> None:
    assert fakes.worker.process(Delivery(body, 1, "rh"), 60) is Outcome.PARKED
    assert [b for b, _ in fakes.queue.dead_letters] == [body]


def test_message_for_an_unknown_document_is_parked(fakes: Fakes) -> None:
    request = SummarizeRequest(document_id="a" * 32, generation=1)
    assert deliver(fakes, request) is Outcome.PARKED
    assert not fakes.llm.calls


def test_document_leased_by_a_live_worker_is_left_alone(fakes: Fakes) -> None:
    request = submitted(fakes)
    now = fakes.clock()
    fakes.repository.claim(request.document_id, 1, now, now + timedelta(minutes=5))

    with pytest.raises(RetryLater):
        deliver(fakes, request, receive_count=2)
    assert not fakes.llm.calls
    # It comes back just after the other worker's lease has ended, not after a fixed backoff.
    [(_, delay)] = fakes.queue.retries
    assert delay == 301


def test_an_expired_lease_is_taken_over(fakes: Fakes) -> None:
    request = submitted(fakes)
    now = fakes.clock()
    fakes.repository.claim(
        request.document_id, 1, now - timedelta(minutes=10), now - timedelta(minutes=5)
    )
    assert deliver(fakes, request, receive_count=2) is Outcome.DONE
    assert fakes.repository.items[request.document_id].attempts == 2


def test_a_failed_document_is_final_until_it_is_summarized_again(
    fakes: Fakes, settings: Settings
) -> None:
    fakes.llm.script = [transient("unreachable"), "Back again."]
    request = submitted(fakes)
    with pytest.raises(RetryLater):  # last attempt: failed, then SQS moves it to the DLQ
        deliver(fakes, request, receive_count=settings.max_receive_count)
    assert fakes.repository.items[request.document_id].status is Status.FAILED

    # Redriven from the DLQ once the LLM is back: `failed` is final for its generation.
    fakes.clock.advance(seconds=settings.retry_max_seconds)
    assert deliver(fakes, request, receive_count=1) is Outcome.DUPLICATE
    assert fakes.repository.items[request.document_id].status is Status.FAILED
    assert len(fakes.llm.calls) == 1
    # A re-summarize starts a new generation, which is worked on.
    fakes.service.resummarize(request.document_id, "again")
    assert deliver(fakes, fakes.queue.sent[-1]) is Outcome.DONE
    doc = fakes.repository.items[request.document_id]
    assert (doc.status, doc.summary, doc.error) == (Status.DONE, "Back again.", None)
