"""Items 2-4 on the embedded stack (`python -m infra.local`): pipeline overhead, throughput
under concurrency, duplicates.

The direct baseline calls the same LLM host with the official `ollama` client and exactly the
call the worker makes: the prompt, `num_ctx`, `num_predict`, temperature and seed come from
`Summarizer.plan` with the same settings the stack's worker runs with, and the call goes
through the worker's adapter (one `ollama.Client.chat`), so nothing about it can differ. The
host clears its KV cache for every request, so neither side profits from the other's prompt.

End-to-end time = the document's `summarized_at` (written by the worker right after the LLM
answered) minus the moment the bench sent the POST: all processes share this machine's clock,
and the bench polls only to learn that a document is done (every 250 ms, so the polling costs
the LLM almost no CPU).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from docsum.adapters.ollama import OllamaLanguageModel, StreamLimits
from docsum.platform.settings import Settings
from docsum.ports.llm import ChatCall
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer

from bench.corpus import LLM_SIZES, documents
from bench.stats import latency_summary, median, ratio
from infra.local.harness import Stack
from infra.local.processes import wait_until

POLL_SECONDS = 0.25
CONCURRENCY_DOCUMENT = "1KB"
DONE_TIMEOUT = 600.0
LLM_CALL_LINE = re.compile(r"\|\s*POST /api/chat$", re.MULTILINE)


@dataclass(frozen=True)
class LlmOptions:
    """What every LLM call of the run uses (passed to the stack as its environment)."""

    num_predict: int = 48
    seed: int = 42
    temperature: float = 0.2

    def environment(self) -> dict[str, str]:
        return {
            "LLM_NUM_PREDICT": str(self.num_predict),
            "LLM_SEED": str(self.seed),
            "LLM_TEMPERATURE": str(self.temperature),
        }


@dataclass(frozen=True)
class PipelinePlan:
    overhead_rounds: int  # each: every LLM document once, direct and through the pipeline
    concurrent_documents: int
    concurrency_rounds: int
    duplicate_posts: int
    duplicate_burst: int


FULL = PipelinePlan(
    overhead_rounds=2,
    concurrent_documents=6,
    concurrency_rounds=3,
    duplicate_posts=50,
    duplicate_burst=8,
)
QUICK = PipelinePlan(
    overhead_rounds=1,
    concurrent_documents=4,
    concurrency_rounds=2,
    duplicate_posts=20,
    duplicate_burst=4,
)


@dataclass(frozen=True)
class DirectAnswer:
    seconds: float
    prompt_tokens: int
    completion_tokens: int


class Direct:
    """The worker's LLM call, made directly: the worker's own Ollama adapter, which is one
    `ollama.Client.chat` call (same model, messages, options and keep_alive)."""

    def __init__(self, host: str, model: str, settings: Settings) -> None:
        self._llm = OllamaLanguageModel(
            host, model, settings.ollama_keep_alive, StreamLimits.of(settings)
        )
        self._summarizer = Summarizer(self._llm, ModelBudget.of(settings))

    def call_for(self, text: str, title: str | None) -> ChatCall:
        return self._summarizer.plan(text.strip(), title)

    def chat(self, call: ChatCall) -> DirectAnswer:
        started = time.perf_counter()
        answer = self._llm.chat(call)
        return DirectAnswer(
            time.perf_counter() - started, answer.prompt_tokens, answer.completion_tokens
        )


class Pipeline:
    """POST documents to the stack's API and learn when the worker has stored their summary."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(
            base_url=stack.api_url,
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._sqs = stack.sqs()

    def post(self, text: str, title: str | None) -> tuple[int, str, float]:
        """(status, document id, seconds the POST took)."""
        started = time.perf_counter()
        response = self.http.post("/documents", json={"text": text, "title": title})
        elapsed = time.perf_counter() - started
        if response.status_code not in (200, 202):
            raise RuntimeError(f"POST /documents: {response.status_code} {response.text}")
        return response.status_code, str(response.json()["id"]), elapsed

    def wait_done(
        self, ids: Sequence[str], failed_ok: bool = False, timeout: float = DONE_TIMEOUT
    ) -> dict[str, dict[str, Any]]:
        """Each document's final record once all are `done` (or `failed`, with `failed_ok`);
        RuntimeError on `failed` otherwise."""
        pending, finished = set(ids), {}
        deadline = time.monotonic() + timeout
        while pending:
            # In order, stopping at the first one not done: about one GET per poll, whatever
            # the batch size (the timestamps say when each finished, not the polling).
            for doc_id in [i for i in ids if i in pending]:
                body = self.http.get(f"/documents/{doc_id}").json()
                if body["status"] == "failed" and not failed_ok:
                    raise RuntimeError(f"document {doc_id} failed: {body['error']}")
                if body["status"] not in ("done", "failed"):
                    break
                finished[doc_id] = body
                pending.discard(doc_id)
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} documents not done in {timeout}s")
                time.sleep(POLL_SECONDS)
        return finished

    def queue_idle(self) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.stack.info["queue_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(v) == 0 for v in attributes.values())

    def settle(self, timeout: float = 120.0) -> None:
        """Until no message is queued or in flight: every delivery has been handled."""
        wait_until("the summarize queue drained", self.queue_idle, timeout, interval=0.2)

    def llm_calls(self) -> int:
        """Chat requests the stack's LLM host has answered (its request log, one line each)."""
        log: Path = self.stack.log_of("llm")
        return len(LLM_CALL_LINE.findall(log.read_text(errors="replace")))


def at(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _direct_one(direct: Direct, call: ChatCall) -> dict[str, float]:
    answer = direct.chat(call)
    return {
        "direct": answer.seconds,
        "direct_prompt_tokens": answer.prompt_tokens,
        "direct_completion_tokens": answer.completion_tokens,
    }


def _pipeline_one(pipeline: Pipeline, text: str, title: str | None) -> dict[str, float]:
    sent = time.time()
    _, doc_id, _ = pipeline.post(text, title)
    record = pipeline.wait_done([doc_id])[doc_id]
    return {
        "pipeline": at(record["summarized_at"]) - sent,
        "pipeline_prompt_tokens": record["prompt_tokens"],
        "pipeline_completion_tokens": record["completion_tokens"],
    }


def _direct_batch(direct: Direct, batch: list[tuple[str, str]], k: int) -> dict[str, float]:
    calls = [direct.call_for(text, title) for text, title in batch]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=k) as pool:
        list(pool.map(direct.chat, calls))
    return {"direct": time.perf_counter() - started}


def model_calls(documents: Iterable[dict[str, Any]]) -> int:
    """Model calls the documents' summaries took (a record without the count took one)."""
    return sum(document.get("llm_calls") or 1 for document in documents)


def _pipeline_batch(pipeline: Pipeline, batch: list[tuple[str, str]]) -> dict[str, float]:
    sent = time.time()
    ids = [pipeline.post(text, title)[1] for text, title in batch]
    records = pipeline.wait_done(ids)
    return {
        "pipeline": max(at(r["summarized_at"]) for r in records.values()) - sent,
        # The direct side makes one call a document; the guard may have asked again.
        "pipeline_calls": model_calls(records.values()),
    }


def _alternating(
    first: Callable[[], dict[str, float]], second: Callable[[], dict[str, float]], swap: bool
) -> dict[str, float]:
    """Both measurements, in the order `swap` says (alternated to spread drift evenly)."""
    steps = [second, first] if swap else [first, second]
    measured: dict[str, float] = {}
    for step in steps:
        measured.update(step())
    return measured


def bench_overhead(
    pipeline: Pipeline, direct: Direct, plan: PipelinePlan, say: Callable[[str], None]
) -> dict[str, Any]:
    """Item 2: one document at a time, direct call and pipeline alternating which goes first."""
    run = uuid.uuid4().hex[:6]
    rows: list[dict[str, Any]] = []
    for round_ in range(plan.overhead_rounds):
        for index, doc in enumerate(documents(LLM_SIZES)):
            text = doc.unique(f"overhead-{run}-{round_}")
            measured = _alternating(
                partial(_direct_one, direct, direct.call_for(text, doc.title)),
                partial(_pipeline_one, pipeline, text, doc.title),
                swap=bool((round_ + index) % 2),
            )
            rows.append(
                {
                    "document": doc.name,
                    "chars": len(text),
                    "direct_s": round(measured["direct"], 3),
                    "pipeline_s": round(measured["pipeline"], 3),
                    "ratio": round(ratio(measured["pipeline"], measured["direct"]), 3),
                    "same_call": measured["direct_completion_tokens"]
                    == measured["pipeline_completion_tokens"]
                    and measured["direct_prompt_tokens"] == measured["pipeline_prompt_tokens"],
                }
            )
            say(
                f"overhead {doc.name}: direct {measured['direct']:.2f}s, "
                f"pipeline {measured['pipeline']:.2f}s"
            )
    direct_total = sum(r["direct_s"] for r in rows)
    pipeline_total = sum(r["pipeline_s"] for r in rows)
    return {
        "documents": rows,
        "direct_total_s": round(direct_total, 3),
        "pipeline_total_s": round(pipeline_total, 3),
        # Each document's two runs were back to back: the median of their ratios is the
        # claim; the ratio of the totals weighs the long documents more.
        "ratio": round(median([r["ratio"] for r in rows]), 3),
        "ratio_of_totals": round(ratio(pipeline_total, direct_total), 3),
        "all_same_call": all(r["same_call"] for r in rows),
    }


def bench_concurrency(
    pipeline: Pipeline,
    direct: Direct,
    concurrency: int,
    plan: PipelinePlan,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Item 3: N documents through the pipeline (consumer at MaximumConcurrency k) next to the
    same N calls made directly, k at a time."""
    run = uuid.uuid4().hex[:6]
    # One size for all: with mixed sizes, how the k calls happen to overlap changes the LLM
    # host's own speed (its threads are split between busy slots) by more than the pipeline
    # costs, and the two sides would overlap them differently.
    doc = next(d for d in documents(LLM_SIZES) if d.name == CONCURRENCY_DOCUMENT)
    rounds: list[dict[str, float]] = []
    for round_ in range(plan.concurrency_rounds):
        batch = [
            (doc.unique(f"conc-{run}-{round_}-{i}"), doc.title)
            for i in range(plan.concurrent_documents)
        ]
        measured = _alternating(
            partial(_direct_batch, direct, batch, concurrency),
            partial(_pipeline_batch, pipeline, batch),
            swap=bool(round_ % 2),
        )
        pipeline.settle()
        rounds.append(measured)
        say(
            f"concurrency k={concurrency}, {len(batch)} documents: direct "
            f"{measured['direct']:.2f}s, pipeline {measured['pipeline']:.2f}s "
            f"({measured['pipeline_calls']:.0f} model calls)"
        )
    direct_s = median([r["direct"] for r in rounds])
    pipeline_s = median([r["pipeline"] for r in rounds])
    n = plan.concurrent_documents
    return {
        "documents": n,
        "document": doc.name,
        "k": concurrency,
        "direct_s": round(direct_s, 3),
        "pipeline_s": round(pipeline_s, 3),
        "direct_docs_per_min": round(60 * n / direct_s, 2),
        "pipeline_docs_per_min": round(60 * n / pipeline_s, 2),
        "ratio": round(median([ratio(r["pipeline"], r["direct"]) for r in rounds]), 3),
        "pipeline_calls": median([r["pipeline_calls"] for r in rounds]),
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
    }


def bench_duplicates(
    pipeline: Pipeline, plan: PipelinePlan, say: Callable[[str], None]
) -> dict[str, Any]:
    """Item 4: repeated identical POSTs of a summarized document, and a burst of identical
    POSTs of a new one; LLM calls counted on the host's request log."""
    doc = documents(LLM_SIZES)[0]
    text = doc.unique(f"dup-{uuid.uuid4().hex[:6]}")
    pipeline.settle()
    before = pipeline.llm_calls()
    status, doc_id, _ = pipeline.post(text, doc.title)
    pipeline.wait_done([doc_id])
    pipeline.settle()
    first = pipeline.llm_calls() - before

    latencies, statuses = [], []
    before = pipeline.llm_calls()
    for _ in range(plan.duplicate_posts):
        code, same_id, seconds = pipeline.post(text, doc.title)
        latencies.append(seconds)
        statuses.append(code)
        if same_id != doc_id:
            raise RuntimeError(f"a repeated POST answered another id: {same_id} != {doc_id}")
    pipeline.settle()
    repeated_calls = pipeline.llm_calls() - before

    burst_text = doc.unique(f"burst-{uuid.uuid4().hex[:6]}")
    before = pipeline.llm_calls()
    with ThreadPoolExecutor(max_workers=plan.duplicate_burst) as pool:
        burst = list(
            pool.map(lambda _: pipeline.post(burst_text, doc.title), range(plan.duplicate_burst))
        )
    burst_ids = {doc_id for _, doc_id, _ in burst}
    burst_done = pipeline.wait_done(sorted(burst_ids))
    pipeline.settle()
    burst_calls = pipeline.llm_calls() - before
    # What summarizing the document itself took (2 when the guard retried a bad answer).
    needed = model_calls(burst_done.values())
    result: dict[str, Any] = {
        "first_post": {"status": status, "llm_calls": first},
        "repeated_posts": {
            "count": plan.duplicate_posts,
            "statuses": sorted(set(statuses)),
            **latency_summary(latencies),
            "llm_calls": repeated_calls,
        },
        "concurrent_burst": {
            "count": plan.duplicate_burst,
            "created": sum(1 for code, _, _ in burst if code == 202),
            "ids": len(burst_ids),
            "llm_calls": burst_calls,
            "llm_calls_beyond_the_first": burst_calls - needed,
        },
        "llm_calls_caused_by_duplicates": repeated_calls + max(0, burst_calls - needed),
    }
    say(
        f"duplicates: {plan.duplicate_posts} repeats p50 {result['repeated_posts']['p50_ms']} ms, "
        f"LLM calls caused by duplicates: {result['llm_calls_caused_by_duplicates']}"
    )
    return result
