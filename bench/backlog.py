"""Item 7: a backlog on a slow model host (issue 24), on the embedded stack.

A dozen documents, some long (map-reduced in several chunk calls), are submitted at once to the
stack's offline host with k slots, made slow on purpose (`--token-delay`: every token takes
that much longer, as on a busy CPU). Measured from the host's own request log, where every
chat request says how long it held a slot, its status and its request digest:

- model-seconds thrown away: slot time of requests that did not end 200 (a client that gave
  up: 499) plus that of a request made again (the same digest answered before) — against all
  slot time (goal: 0);
- timeouts: requests whose client gave up (goal: 0);
- time until the last document is done, from the moment they were submitted, against the
  ideal: the slot time the documents needed divided by k (goal: <= 1.15). Slot time is
  measured with k calls sharing the cores, as they do in the run, so the ratio shows idle
  slots and overhead, not the machine's speed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.corpus import Document, text_of
from bench.pipeline import Pipeline, at
from infra.local.harness import Stack

# A chat request in the host's log: status, slot time, tokens, request digest.
_CHAT = re.compile(
    r"\] (\d{3}) \|.*\| POST /api/chat \| slot ([\d.]+)s \| tokens \d+ \| req ([0-9a-f]+)"
)


@dataclass(frozen=True)
class BacklogPlan:
    short: int  # documents of SHORT_CHARS
    long: int  # documents of LONG_CHARS: several chunk calls and a merge each
    token_delay: float  # seconds added to every token by the host
    context_tokens: int  # LLM_CONTEXT_TOKENS: small, so the long ones chunk with a tiny model


# A backlog takes its time on a slow, shared machine: ~26 calls of up to a minute or more, 2 at
# a time (the bound only stops a run that hangs).
DONE_TIMEOUT = 3600.0
SHORT_CHARS = 1_000
LONG_CHARS = 7_000
FULL = BacklogPlan(short=8, long=4, token_delay=0.05, context_tokens=2048)
QUICK = BacklogPlan(short=4, long=2, token_delay=0.05, context_tokens=2048)


def environment(plan: BacklogPlan) -> dict[str, str]:
    """For the stack: its offline host slow on purpose, a window the long documents exceed."""
    return {
        "OFFLINE_OLLAMA_TOKEN_DELAY": str(plan.token_delay),
        "LLM_CONTEXT_TOKENS": str(plan.context_tokens),
    }


def corpus(plan: BacklogPlan) -> list[Document]:
    """The same texts every run (the stack is new each time, so none is a duplicate): with the
    fixed seed the model's answers repeat too. Long ones first, as a folder might list them."""
    docs = [
        Document(f"long-{i}", f"Long report {i}", text_of(LONG_CHARS, i)) for i in range(plan.long)
    ]
    docs += [
        Document(f"short-{i}", f"Note {i}", text_of(SHORT_CHARS, 100 + i))
        for i in range(plan.short)
    ]
    return docs


@dataclass(frozen=True)
class ChatLine:
    status: int
    slot_seconds: float
    digest: str


def chat_lines(log_text: str) -> list[ChatLine]:
    return [
        ChatLine(int(status), float(seconds), digest)
        for status, seconds, digest in _CHAT.findall(log_text)
    ]


def accounting(lines: list[ChatLine]) -> dict[str, Any]:
    """All slot time, what of it was thrown away (not 200, or a repeat), timeouts."""
    answered: set[str] = set()
    thrown = repeats = 0.0
    for line in lines:
        if line.status != 200:
            thrown += line.slot_seconds
        elif line.digest in answered:
            thrown += line.slot_seconds
            repeats += 1
        else:
            answered.add(line.digest)
    total = sum(line.slot_seconds for line in lines)
    return {
        "calls": len(lines),
        "model_seconds": round(total, 1),
        "thrown_away_seconds": round(thrown, 1),
        "repeated_calls": int(repeats),
        "timeouts": sum(1 for line in lines if line.status == 499),
        "errors": sum(1 for line in lines if line.status not in (200, 499)),
    }


def bench_backlog(
    stack: Stack, plan: BacklogPlan, k: int, say: Callable[[str], None]
) -> dict[str, Any]:
    pipeline = Pipeline(stack)
    log = stack.log_of("llm")
    offset = len(log.read_bytes())
    docs = corpus(plan)
    say(f"backlog: {len(docs)} documents ({plan.long} long) at once, k={k} slots")
    sent = time.time()
    with ThreadPoolExecutor(max_workers=len(docs)) as pool:
        ids = list(pool.map(lambda d: pipeline.post(d.text, d.title)[1], docs))
    # A document the output guard fails (a tiny model's invented figure) is no backlog
    # failure: it is reported, and its time counts like the others'.
    records = pipeline.wait_done(ids, failed_ok=True, timeout=DONE_TIMEOUT)
    finished = [r["summarized_at"] or r["updated_at"] for r in records.values()]
    last_done = max(at(t) for t in finished) - sent
    pipeline.settle()
    counts = accounting(chat_lines(log.read_bytes()[offset:].decode(errors="replace")))
    needed = counts["model_seconds"] - counts["thrown_away_seconds"]
    ideal = needed / k
    result = {
        "documents": len(docs),
        "long": plan.long,
        "long_chars": LONG_CHARS,
        "short_chars": SHORT_CHARS,
        "k": k,
        "token_delay_s": plan.token_delay,
        "context_tokens": plan.context_tokens,
        **counts,
        "retried_documents": sum(1 for r in records.values() if r["attempts"] > 1),
        "failed": {
            doc.name: records[doc_id]["error"]
            for doc, doc_id in zip(docs, ids, strict=True)
            if records[doc_id]["status"] == "failed"
        },
        "last_done_s": round(last_done, 1),
        "ideal_s": round(ideal, 1),
        "ratio": round(last_done / ideal, 3) if ideal > 0 else None,
    }
    say(
        f"backlog: last done after {result['last_done_s']} s, ideal {result['ideal_s']} s; "
        f"thrown away {counts['thrown_away_seconds']} of {counts['model_seconds']} model-s, "
        f"{counts['timeouts']} timeouts"
    )
    return result
