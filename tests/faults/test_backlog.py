"""A backlog on a slow model host (issue 24), the short version of `make bench`'s backlog row.

Short and long documents submitted at once to a host with k slots (the template's: one
summarize invocation per slot) that is slow on purpose: the fault proxy plays the host, its
made-up answers streamed a word per token with a delay, at most k at once (the rest queue, as
in Ollama). The first-token limit is shorter than one call, so a call that had to wait for a
slot would time out and its work be thrown away. Before issue 24 the worker sent invocations x
LLM_PARALLEL_CALLS (2 x 2) calls to 2 slots and did exactly that; now nothing is thrown away
(no call abandoned, none made twice), nothing times out, and every document ends `done`.
(The real model's part is `make bench`'s backlog row, on the embedded stack.)
"""

from __future__ import annotations

from collections import Counter

import pytest

from infra.local.harness import maximum_concurrency
from tests.faults.conftest import Pipeline, short_text, tag
from tests.faults.test_faults import assert_all_done, post_all

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

SUMMARY = "The harbour committee planned repairs to its piers."  # the guard accepts it
TOKEN_SECONDS = 0.3  # 8 words: a call of ~2 s
FIRST_TOKEN_SECONDS = 1.5  # shorter than a call: a wait for a slot would end in a timeout
FUNCTION_TIMEOUT = 60  # room for several calls per invocation


def long_text(label: str, rounds: int) -> str:
    """About 1,650 characters a round: a few chunks at a 1,024-token window, then a merge.
    (Rounds differ per document, so two merges never ask the same thing.)"""
    return "\n\n".join(
        f"Part {part} of {label}: the harbour committee met about the {part} pier. "
        f"Repairs to the {part} pier start in spring and its crew paints it. " * 3
        for part in ("north", "south", "east", "west", "inner", "outer") * rounds
    )


def test_a_backlog_on_a_slow_host_throws_nothing_away(pipeline: Pipeline) -> None:
    t = tag()
    texts = [short_text(f"{t}-{i}") for i in range(4)] + [
        long_text(f"{t}-long-{i}", i) for i in (2, 3)
    ]
    state = pipeline.proxy.state
    before = len(state.calls)
    with (
        pipeline.proxy.answering(
            SUMMARY, seconds=0.1, token_seconds=TOKEN_SECONDS, slots=maximum_concurrency()
        ),
        # A small window makes the long ones map-reduce; LLM_PARALLEL_CALLS is the template's.
        pipeline.consumer_with(
            FUNCTION_TIMEOUT,
            LLM_CONTEXT_TOKENS="1024",
            LLM_FIRST_TOKEN_TIMEOUT_SECONDS=str(FIRST_TOKEN_SECONDS),
        ),
    ):
        ids = post_all(pipeline, texts)
        records = pipeline.wait_settled(ids)
        log = pipeline.consumer.log(tail=10**7)
    calls = state.calls[before:]

    assert_all_done(records)
    # Nothing thrown away: every call answered to a caller that read it, none asked twice.
    assert Counter(c.outcome for c in calls) == {"ok": len(calls)}
    asked = [(c.user, c.options) for c in calls]
    assert len(asked) == len(set(asked)), Counter(asked).most_common(3)
    assert "transient failure" not in log  # no timeout, no retry of any kind
    # It was a backlog: more calls than slots, the long ones chunked.
    assert len(calls) >= len(texts) + 4
    assert sum(r["llm_calls"] for r in records.values()) == len(calls)
    pipeline.assert_consistent(records)
    assert pipeline.take_dead_letters() == []
