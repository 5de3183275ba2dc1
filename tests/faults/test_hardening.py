"""Riding out outages and never stranding a document, on the running pipeline with the real
offline LLM host, the template's times scaled down (tests/faults/conftest.py):

- the model host down for longer than the old retry budget: nothing fails, all finish;
- a worker killed on its message's last delivery: the sweeper recovers the document;
- a send lost after the record was written: the sweeper re-sends it;
- a long document whose invocation deadline is shorter than its chunk calls: it pauses,
  resumes where it stopped and finishes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from docsum.domain.errors import LEASE_EXPIRED
from docsum.platform.retry import deliveries_within
from docsum.platform.settings import Settings

from infra.local.processes import wait_until
from tests.faults.conftest import (
    DONE_TIMEOUT,
    FUNCTION_TIMEOUT,
    RETRY_BASE_SECONDS,
    Pipeline,
    short_text,
    tag,
)
from tests.faults.test_faults import assert_all_done, post_all

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

OLD_RETRY_BUDGET = sum(RETRY_BASE_SECONDS * 2**n for n in range(4))  # 1+2+4+8 s, then failed


def test_host_down_longer_than_the_old_retry_budget_fails_nothing(pipeline: Pipeline) -> None:
    tags = [tag() for _ in range(4)]
    pipeline.kill_host()
    down_at = time.monotonic()
    try:
        ids = post_all(pipeline, [short_text(t) for t in tags])
        outage = 2 * OLD_RETRY_BUDGET
        while time.monotonic() - down_at < outage:
            for doc_id in ids:
                record = pipeline.get(doc_id)
                assert record["status"] in ("queued", "processing"), record
            time.sleep(1)
        waiting = [pipeline.get(doc_id) for doc_id in ids]
        assert {r["error"] for r in waiting if r["status"] == "queued"} <= {
            "model host unreachable",
            None,
        }
        failed_calls = pipeline.proxy.state.outcomes()["upstream-down"]
    finally:
        pipeline.start_host()
    records = pipeline.wait_settled(ids, timeout=DONE_TIMEOUT + 30)
    assert_all_done(records)
    # The breaker kept the dead host from being probed once per document per retry.
    per_document = deliveries_within(outage, RETRY_BASE_SECONDS, 4)
    assert failed_calls < len(ids) * per_document, failed_calls
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []


def test_worker_killed_on_the_last_delivery_is_recovered_by_the_sweeper(
    pipeline: Pipeline,
) -> None:
    t = tag()
    _, doc_id = pipeline.post(short_text(t, ["stall"]))  # its first call hangs
    wait_until("its call hanging", lambda: pipeline.proxy.state.calls_for(t), 60)
    pipeline.kill_consumer()  # as a Lambda timeout or an out-of-memory kill would
    # That was the message's last delivery: SQS moves it to the DLQ, nobody will redeliver.
    pipeline.sqs.purge_queue(QueueUrl=pipeline.resources.queue_url)
    pipeline.start_consumer()
    # Killed outright, the worker leaves the document `processing` until its lease ends (GET
    # says so meanwhile); if its sandbox got a word in first, the document is `queued` with the
    # retry it scheduled. Either way no message is left: only the sweeper can bring it back.
    if pipeline.get(doc_id)["status"] == "processing":
        wait_until(
            "GET to report the expired lease",
            lambda: pipeline.get(doc_id)["error"] == LEASE_EXPIRED,
            FUNCTION_TIMEOUT + 30,
        )
        assert pipeline.get(doc_id)["status"] == "processing"
    else:
        assert pipeline.get(doc_id)["status"] == "queued"

    with pipeline.sweeper():
        records = pipeline.wait_settled([doc_id])
    assert_all_done(records)
    # The killed attempt and the sweeper's: one hung call, then what the summary cost (two
    # answered calls when the output guard asked again).
    assert records[doc_id]["attempts"] == 2
    outcomes = [c.outcome for c in pipeline.proxy.state.calls_for(t)]
    assert outcomes == ["stall"] + ["ok"] * records[doc_id]["llm_calls"]
    pipeline.assert_consistent(records)


def test_a_lost_send_is_recovered_by_the_sweeper(pipeline: Pipeline) -> None:
    t = tag()
    doc_id = pipeline.record_without_message(short_text(t))
    time.sleep(2)
    assert pipeline.get(doc_id)["status"] == "queued"
    assert pipeline.proxy.state.calls_for(t) == []
    with pipeline.sweeper() as sweeper:
        records = pipeline.wait_settled([doc_id])
        assert "swept: message re-sent" in sweeper.log(tail=10**7)
    assert_all_done(records)
    assert records[doc_id]["attempts"] == 1
    assert len(pipeline.proxy.state.calls_for(t)) == records[doc_id]["llm_calls"]
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []


def test_long_document_with_a_short_deadline_resumes_and_finishes(pipeline: Pipeline) -> None:
    """Each invocation has time for one chunk only when the output guard makes it ask twice:
    every first answer is a refusal, the guard's retry (another repeat penalty) gets a good
    one. Answers are made up by the proxy after a fixed time, so the timing is exact; the
    real model's part is in tests/llm (long documents through the offline host)."""
    t = tag()
    text = "\n\n".join(
        f"Part {part} of {t}: the harbour committee met about the {part} pier. "
        f"Repairs to the {part} pier start in spring and its crew paints it. " * 3
        for part in ("north", "south", "east", "west", "inner", "outer") * 4
    )
    retry_penalty = Settings(summarize_queue_url="-").guard_retry_repeat_penalty

    def answer(options: dict[str, Any]) -> str:
        if options.get("repeat_penalty") == retry_penalty:
            return "The harbour committee planned repairs to its piers."
        return "I'm sorry, but I can't help with that."

    # After the first answer (2 s) the margin leaves 2 s: too little for another call by the
    # margin rule, enough for the guard's retry before anything is kept; after the retry the
    # invocation pauses. So each invocation keeps exactly one result, then resumes.
    answer_seconds, timeout = 2.0, 30
    with (
        pipeline.proxy.answering(answer, seconds=answer_seconds),
        pipeline.consumer_with(
            timeout,
            LLM_CONTEXT_TOKENS="1024",
            LLM_PARALLEL_CALLS="1",
            DEADLINE_MARGIN_SECONDS=str(timeout - 2 * answer_seconds),
        ),
    ):
        _, doc_id = pipeline.post(text, title="Harbour minutes")
        records = pipeline.wait_settled([doc_id], timeout=DONE_TIMEOUT)
        log = pipeline.consumer.log(tail=10**7)
    assert_all_done(records)
    asked = [(c.user, c.options) for c in pipeline.proxy.state.calls if t in c.user]
    chunks = {user for user, _ in asked}
    assert len(chunks) >= 4  # it really was chunked (and combined)
    assert log.count("out of time: paused") >= len(chunks) - 1  # one result per invocation
    # Every call answered, none made twice: resumed, never restarted.
    assert len(asked) == len(set(asked)) == 2 * len(chunks)
    assert pipeline.take_dead_letters() == []
