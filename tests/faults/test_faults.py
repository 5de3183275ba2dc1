"""Fault injection on the running pipeline with the real offline LLM host (`make faults`).

Every test asserts the same invariants: every accepted document reaches `done` (or `failed`
with a reason, for poison input); no summary is overwritten by a late or stale delivery; every
message is accounted for (the work queue drains, the DLQ holds exactly the poison); nothing is
lost. Faults are bounded in count and time: each document gets fewer failures than
MaxReceiveCount allows, and every wait has a deadline. The load test (200 documents at once)
is about queues and accounting, so the fault proxy answers its model calls at once.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra.local.processes import wait_until
from tests.faults.conftest import DONE_TIMEOUT, Pipeline, message_body, short_text, tag

CONCURRENT_DOCUMENTS = int(os.environ.get("FAULTS_CONCURRENT_DOCUMENTS", "200"))
# The model answers at once there (the proxy's instant answer), so API, queue and worker set
# the pace; half a second per document allowed on a busy machine.
CONCURRENT_DEADLINE = 60 + 0.5 * CONCURRENT_DOCUMENTS
# What the model "wrote" for each of them: a summary of short_text() the guard accepts.
INSTANT_SUMMARY = "The harbour committee approved repairs to the north pier, starting in May."

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def post_all(pipeline: Pipeline, texts: list[str], concurrency: int = 8) -> list[str]:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(pipeline.post, texts))
    assert [code for code, _ in answers] == [202] * len(texts)
    return [doc_id for _, doc_id in answers]


def assert_all_done(records: dict[str, dict[str, Any]]) -> None:
    failed = {i: r["error"] for i, r in records.items() if r["status"] != "done"}
    assert failed == {}, f"accepted documents that did not reach done: {failed}"


def injected(calls: list[Any]) -> Counter[str]:
    return Counter(c.outcome for c in calls if c.outcome in ("503", "stall"))


def test_llm_answers_503_or_times_out_for_a_share_of_calls(pipeline: Pipeline) -> None:
    plans: list[tuple[str, ...]] = [
        ("503",),
        ("503",),
        ("503", "503"),
        ("stall",),
        ("503", "stall"),
        (),
        (),
        (),
    ]
    tags = [tag() for _ in plans]
    ids = post_all(pipeline, [short_text(t, p) for t, p in zip(tags, plans, strict=True)])
    records = pipeline.wait_settled(ids)
    assert_all_done(records)
    for t, plan, doc_id in zip(tags, plans, ids, strict=True):
        calls = pipeline.proxy.state.calls_for(t)
        assert injected(calls) == Counter(plan), (t, [c.outcome for c in calls])
        assert "ok" in [c.outcome for c in calls]
        # Each injected fault cost one attempt; the document never went to the DLQ.
        assert records[doc_id]["attempts"] >= len(plan) + 1, records[doc_id]
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []


def test_llm_host_killed_mid_run_and_restarted(pipeline: Pipeline) -> None:
    ids = post_all(pipeline, [short_text(tag()) for _ in range(6)])
    wait_until("an LLM call in flight", lambda: pipeline.proxy.state.in_flight > 0, 60)
    pipeline.kill_host()
    wait_until(
        "a worker's call failing on the dead host",
        lambda: pipeline.proxy.state.outcomes()["upstream-down"] > 0,
        30,
    )
    pipeline.start_host()
    records = pipeline.wait_settled(ids)
    assert_all_done(records)
    assert any(r["attempts"] > 1 for r in records.values()), "no document was retried"
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []


def test_consumer_killed_mid_batch_and_restarted(pipeline: Pipeline) -> None:
    ids = post_all(pipeline, [short_text(tag()) for _ in range(4)])
    wait_until("an invocation mid-call", lambda: pipeline.proxy.state.in_flight > 0, 60)
    pipeline.kill_consumer()
    killed_at = time.monotonic()
    pipeline.start_consumer()
    records = pipeline.wait_settled(ids, timeout=DONE_TIMEOUT)
    assert_all_done(records)
    # The document the dead consumer held came back after its lease and visibility timeout.
    assert any(r["attempts"] > 1 for r in records.values()), (
        f"no document was taken over ({time.monotonic() - killed_at:.0f}s after the kill)"
    )
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []


def test_duplicate_deliveries_and_poison_messages(pipeline: Pipeline) -> None:
    finished_tag, busy_tag = tag(), tag()
    _, finished = pipeline.post(short_text(finished_tag))
    before = pipeline.wait_settled([finished])
    # The same text again: the same document, no new work.
    assert pipeline.post(short_text(finished_tag)) == (200, finished)
    # Duplicate deliveries: of a summarized document, and of one being summarized.
    for _ in range(3):
        pipeline.send(message_body(finished, 1))
    _, busy = pipeline.post(short_text(busy_tag))
    for _ in range(2):
        pipeline.send(message_body(busy, 1))
    # Poison: not JSON, an unknown document, a malformed message naming a real document, and
    # a document whose text has disappeared from S3.
    named = pipeline.record_without_message(short_text(tag()))
    textless = pipeline.record_without_message(short_text(tag()), with_text=False)
    poison = [
        "this is not JSON",
        message_body("0" * 32, 1),
        json.dumps({"document_id": named, "generation": "first"}),
    ]
    for body in [*poison, message_body(textless, 1)]:
        pipeline.send(body)

    records = pipeline.wait_settled([finished, busy, named, textless])
    pipeline.wait_drained()
    assert records[busy]["status"] == "done"
    assert records[named]["status"] == "failed"
    assert "malformed message" in (records[named]["error"] or "")
    # A missing text is permanent: failed on the first attempt, its message consumed.
    assert records[textless]["status"] == "failed"
    assert (records[textless]["error"], records[textless]["attempts"]) == (
        "document text is missing",
        1,
    )
    # Each document's summary was asked for once, whatever the deliveries: the model saw only
    # the calls that summary cost (two when the output guard asked again).
    for t, doc in ((finished_tag, before[finished]), (busy_tag, records[busy])):
        calls = pipeline.proxy.state.calls_for(t)
        assert [c.outcome for c in calls] == ["ok"] * doc["llm_calls"], t
    pipeline.assert_consistent({**before, busy: records[busy]})
    # Exactly the messages that cannot be processed are parked, each once.
    assert sorted(pipeline.take_dead_letters()) == sorted(poison)


def test_stale_delivery_never_overwrites_a_newer_summary(pipeline: Pipeline) -> None:
    t = tag()
    _, doc_id = pipeline.post(short_text(t))
    first = pipeline.wait_settled([doc_id])[doc_id]
    again = pipeline.http.post(f"/documents/{doc_id}/summarize")
    assert again.status_code == 202
    assert again.json()["generation"] == 2
    second = pipeline.wait_settled([doc_id])[doc_id]
    assert second["status"] == "done"
    assert second["generation"] == 2
    assert second["summarized_at"] > first["summarized_at"]
    # A late delivery of the first request, and a duplicate of the second.
    pipeline.send(message_body(doc_id, 1))
    pipeline.send(message_body(doc_id, 2))
    pipeline.assert_consistent({doc_id: second})
    asked = first["llm_calls"] + second["llm_calls"]  # the output guard may ask twice
    assert len(pipeline.proxy.state.calls_for(t)) == asked

    # Two re-summarize requests in a row: whatever the order of work, the newest one wins.
    for generation in (3, 4):
        response = pipeline.http.post(f"/documents/{doc_id}/summarize")
        assert response.json()["generation"] == generation
    final = pipeline.wait_settled([doc_id])[doc_id]
    assert final["status"] == "done"
    assert final["generation"] == 4
    pipeline.assert_consistent({doc_id: final})
    # Generation 4's summary, plus generation 3's when it ran before 4 superseded it.
    extra = len(pipeline.proxy.state.calls_for(t)) - asked - final["llm_calls"]
    assert 0 <= extra <= 2
    assert pipeline.take_dead_letters() == []


@pytest.mark.timeout(CONCURRENT_DEADLINE + 120)
def test_concurrent_submissions_all_reach_done(pipeline: Pipeline) -> None:
    """About queues and accounting, not the model: every call is answered at once, so 200
    documents take seconds instead of minutes of CPU-bound generation, and the API, the queue
    and the workers' claims are what is under load."""
    tags = [tag() for _ in range(CONCURRENT_DOCUMENTS)]
    # Every eighth document's first call is refused (503): retries under load are accounted
    # for too, whether or not the load itself causes any.
    refused = set(tags[::8])
    texts = [short_text(t, ["503"] if t in refused else []) for t in tags]
    started = time.monotonic()
    with pipeline.proxy.answering(INSTANT_SUMMARY):
        ids = post_all(pipeline, texts, concurrency=32)
        accepted = time.monotonic() - started
        assert len(set(ids)) == CONCURRENT_DOCUMENTS
        records = pipeline.wait_settled(ids, timeout=CONCURRENT_DEADLINE)
        processed = time.monotonic() - started
    assert_all_done(records)
    # One LLM call per failed attempt (an attempt is a claim of the document), and what the
    # stored summary cost for the last one (two calls when the output guard asked again): no
    # delivery made a call without owning the document.
    attempts = {t: records[i]["attempts"] for t, i in zip(tags, ids, strict=True)}
    cost = {t: records[i]["llm_calls"] for t, i in zip(tags, ids, strict=True)}
    calls = {t: len(pipeline.proxy.state.calls_for(t)) for t in tags}
    assert {t: (calls[t], n) for t, n in attempts.items() if calls[t] != n - 1 + cost[t]} == {}
    assert {t for t in refused if attempts[t] < 2} == set()
    retried = sum(1 for n in attempts.values() if n > 1)
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []
    print(
        f"\n{CONCURRENT_DOCUMENTS} documents: accepted in {accepted:.1f}s, "
        f"all done in {processed:.1f}s; {retried} retried after a failed LLM call "
        f"({len(refused)} refused on purpose)"
    )
