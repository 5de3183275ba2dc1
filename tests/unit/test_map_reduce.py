"""Map-reduce over chunks: concurrency bound, recursion, retry-smaller, resume and progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from docsum.domain.document import Progress, Status
from docsum.domain.errors import ContextOverflow, LLMError
from docsum.domain.options import SummaryOptions
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.settings import Settings
from docsum.ports.llm import ChatAnswer, ChatCall
from docsum.summary.budget import ModelBudget
from docsum.summary.map_reduce import PartialResults
from docsum.summary.prompts import COMBINE_PROMPT, PART_PROMPT
from docsum.summary.summarizer import Summarizer
from docsum.worker.outcomes import Outcome
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker

from tests.fakes import (
    InMemoryDocumentRepository,
    InMemoryTextStore,
    InMemoryWorkQueue,
    transient,
)

PART = PART_PROMPT.split("{")[0]
COMBINE = COMBINE_PROMPT.split("{")[0]
TITLE = "A long report"


def prose(chars: int, seed: int = 0) -> str:
    """Deterministic, varied paragraphs of English (no two sentences alike)."""
    topics = ["rivers", "bridges", "ledgers", "orchards", "engines", "harbours", "letters"]
    verbs = ["describes", "questions", "measures", "compares", "revisits", "explains"]
    out: list[str] = []
    size, i = 0, seed
    while size < chars:
        sentences = [
            f"Section {i} {verbs[(i + k) % len(verbs)]} the {topics[(i * 3 + k) % len(topics)]} "
            f"of district {i * 7 + k}, noting figure {(i * 31 + k * 17) % 1000}."
            for k in range(3 + i % 4)
        ]
        paragraph = " ".join(sentences) + "\n\n"
        out.append(paragraph)
        size += len(paragraph)
        i += 1
    return "".join(out)


def cyrillic(chars: int) -> str:
    """Text the estimate under-counts: a byte-level tokenizer spends a token a letter on it."""
    words = ["жизнь", "сказка", "поле", "дорога", "осень"]
    return " ".join(words[i % len(words)] for i in range(chars // 6)) + ".\n\n"


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "llm_context_tokens": 1024,
        "llm_num_predict": 64,
        "llm_parallel_calls": 2,
        "summary_max_chars": 1500,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def user_text(call: ChatCall) -> str:
    """The text the call summarizes: inside the delimiter lines, after the title."""
    inside = call.user.split("\n", 1)[1].rsplit("\n", 1)[0]
    return inside.removeprefix(f"Title: {TITLE}\n\n")


DETAILS = " ".join(
    f"Detail {word} follows."
    for word in [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "golf",
        "hotel",
        "india",
        "juliet",
        "kilo",
        "lima",
        "mike",
        "november",
        "oscar",
        "papa",
        "quebec",
        "romeo",
        "sierra",
        "tango",
    ]
)


def default_count(call: ChatCall) -> int:
    """Fewer tokens than the summarizer estimates (chars/4 vs chars/3), Cyrillic a token each."""
    text = call.system + call.user
    heavy = sum(1 for c in text if "\u0400" <= c <= "\u04ff")
    return heavy + (len(text) - heavy) // 4


@dataclass
class Record:
    call: ChatCall
    prompt_tokens: int
    outcome: str  # "ok", "overflow", "refused", "failed"


class FakeModel:
    """A language model that counts tokens, replies with a short summary of what it got,
    keeps track of how many calls run at once, and fails on demand. A prompt past the window
    is reported in full (`count`), cut to the window as Ollama does (`truncate`), refused
    with its length as the offline host does (`refuse`), or refused without it
    (`refuse-blind`)."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        reply_chars: int = 60,
        count: Callable[[ChatCall], int] = default_count,
        fail_on: frozenset[int] = frozenset(),
        mode: str = "count",
        on_call: Callable[[], None] | None = None,
    ) -> None:
        self.name = "fake:1b"
        self.delay = delay
        self.reply_chars = reply_chars
        self.count = count
        self.fail_on = fail_on
        self.mode = mode
        self.on_call = on_call
        self.records: list[Record] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._n = 0

    def chat(self, call: ChatCall) -> ChatAnswer:
        with self._lock:
            self._n += 1
            n = self._n
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.on_call is not None:
                self.on_call()
            time.sleep(self.delay)
            tokens = self.count(call)
            if self.mode == "truncate":  # Ollama: keeps num_ctx tokens, says nothing
                tokens = min(tokens, call.num_ctx)
            if n in self.fail_on:
                self._record(call, tokens, "failed")
                raise transient("timeout")
            if self.mode.startswith("refuse") and tokens >= call.num_ctx:
                self._record(call, tokens, "refused")
                # The adapter passes on the count the offline host's 400 names, if any.
                said = call.num_ctx if self.mode == "refuse-blind" else tokens + call.num_predict
                raise ContextOverflow(said, call.num_ctx, "host refused the prompt")
            overflow = tokens > call.num_ctx - call.num_predict
            self._record(call, tokens, "overflow" if overflow else "ok")
            first = user_text(call).split()[:3]
            reply = f"Summary of {' '.join(first)}. {DETAILS}"
            # A summary is shorter than what it summarizes (else the guard rejects it).
            return ChatAnswer(
                text=reply[: min(self.reply_chars, len(user_text(call)) // 2)],
                model=self.name,
                prompt_tokens=tokens,
                completion_tokens=self.reply_chars // 4,
                model_seconds=0.25,
                done_reason="stop",
            )
        finally:
            with self._lock:
                self.in_flight -= 1

    def _record(self, call: ChatCall, tokens: int, outcome: str) -> None:
        with self._lock:
            self.records.append(Record(call, tokens, outcome))

    def texts(self, kind: str, outcome: str = "ok") -> list[str]:
        return [
            user_text(r.call)
            for r in self.records
            if r.call.system.startswith(kind) and r.outcome == outcome
        ]


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[Progress, dict[str, str]]] = []

    def __call__(self, progress: Progress, summaries: dict[str, str]) -> None:
        self.seen.append((progress, summaries))

    @property
    def last_summaries(self) -> dict[str, str]:
        return self.seen[-1][1] if self.seen else {}


def level_keys(summaries: dict[str, str], level: int) -> list[tuple[int, int]]:
    spans = []
    for key in summaries:
        lvl, span, _digest = key.split(":")
        if int(lvl) == level:
            start, end = span.split("-")
            spans.append((int(start), int(end)))
    return sorted(spans)


def leaves(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans that contain no other span (a split chunk's children, not the chunk)."""
    return [s for s in spans if not any(o != s and s[0] <= o[0] and o[1] <= s[1] for o in spans)]


def assert_every_call_fits(summarizer: Summarizer, model: FakeModel, settings: Settings) -> None:
    for record in model.records:
        call = record.call
        assert call.num_ctx <= settings.llm_context_tokens
        planned = summarizer.estimate_tokens(call.system) + summarizer.estimate_tokens(call.user)
        assert planned + call.num_predict <= call.num_ctx


def run(
    text: str, settings: Settings, model: FakeModel, partials: PartialResults | None = None
) -> tuple[Summarizer, str, int]:
    summarizer = Summarizer(model, ModelBudget.of(settings))
    summary = summarizer.summarize(text, TITLE, partials)
    assert len(summary.text) <= settings.summary_max_chars
    return summarizer, summary.text, summary.llm_calls


def test_a_text_that_fits_takes_one_call_and_reports_no_progress() -> None:
    settings, model, reports = make_settings(), FakeModel(), Reports()
    summarizer = Summarizer(model, ModelBudget.of(settings))
    text = prose(400)
    summary = summarizer.summarize(text, TITLE, PartialResults({}, reports))
    [record] = model.records
    assert record.call == summarizer.plan(text, TITLE, summarizer.target(text, SummaryOptions()))
    assert (summary.llm_calls, summary.prompt_tokens, reports.seen) == (1, record.prompt_tokens, [])


def test_a_long_text_is_chunked_so_every_character_is_summarized_once() -> None:
    settings, model, reports = make_settings(), FakeModel(), Reports()
    text = prose(30_000)
    summarizer, summary, calls = run(text, settings, model, PartialResults({}, reports))

    spans = level_keys(reports.last_summaries, 0)
    assert len(spans) >= 10
    assert [s for s, _ in spans] == [0, *(e for _, e in spans[:-1])]  # contiguous
    assert spans[-1][1] == len(text)
    assert sorted(model.texts(PART)) == sorted(text[s:e] for s, e in spans)
    # Paragraph breaks fit in every chunk here, so every chunk but the last ends on one.
    assert all(text[s:e].endswith("\n\n") for s, e in spans)
    assert len(model.texts(COMBINE)) == 1  # the partials fit one final call
    assert calls == len(model.records) == len(spans) + 1
    assert summary.startswith("Summary of")
    assert_every_call_fits(summarizer, model, settings)


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_chunk_calls_run_concurrently_up_to_the_limit(parallel: int) -> None:
    settings = make_settings(llm_parallel_calls=parallel)
    model = FakeModel(delay=0.03)
    run(prose(20_000), settings, model)
    assert model.max_in_flight == parallel


def test_partials_that_do_not_fit_are_combined_recursively() -> None:
    settings, model, reports = make_settings(), FakeModel(reply_chars=2000), Reports()
    text = prose(80_000)
    summarizer, summary, calls = run(text, settings, model, PartialResults({}, reports))

    stored = reports.last_summaries
    assert level_keys(stored, 1), "a reduce level between the chunks and the final call"
    combine_calls = model.texts(COMBINE)
    assert len(combine_calls) == len(level_keys(stored, 1)) + len(level_keys(stored, 2)) + 1
    # Partials are cut to a third of a combine call's room, so each level at least halves.
    partial_limit = max(len(s) for s in stored.values())
    assert partial_limit < settings.summary_max_chars
    assert len(level_keys(stored, 1)) <= len(level_keys(stored, 0)) // 2
    assert calls == len(model.records)
    assert len(summary) <= settings.summary_max_chars
    assert_every_call_fits(summarizer, model, settings)


@pytest.mark.parametrize("mode", ["count", "truncate", "refuse", "refuse-blind"])
def test_a_chunk_the_model_counts_longer_is_split_smaller_and_retried(mode: str) -> None:
    settings, reports = make_settings(), Reports()
    model = FakeModel(mode=mode)
    text = prose(6000) + cyrillic(2000) + prose(6000, seed=50)
    _, _, calls = run(text, settings, model, PartialResults({}, reports))

    failed = [r for r in model.records if r.outcome in ("overflow", "refused")]
    assert failed, "the Cyrillic chunk was estimated to fit and counted longer"
    spans = level_keys(reports.last_summaries, 0)
    tiles = leaves(spans)
    assert len(tiles) < len(spans), "the split chunk is stored whole as well as its children"
    assert [s for s, _ in tiles] == [0, *(e for _, e in tiles[:-1])]
    assert tiles[-1][1] == len(text)
    assert sorted(model.texts(PART)) == sorted(text[s:e] for s, e in tiles)
    for record in failed:  # the failed text was summarized in smaller pieces instead
        failed_text = user_text(record.call)
        start = text.index(failed_text)
        pieces = [(s, e) for s, e in tiles if start <= s and e <= start + len(failed_text)]
        assert len(pieces) >= 2
    ok = [r for r in model.records if r.outcome == "ok"]
    assert all(r.prompt_tokens <= r.call.num_ctx - r.call.num_predict for r in ok)
    assert calls == len(model.records)
    totals = [p.chunks_total for p, _ in reports.seen]
    assert totals == sorted(totals)
    assert totals[-1] > totals[0]


@pytest.mark.parametrize(("mode", "most_pieces"), [("refuse", 6), ("refuse-blind", 2)])
def test_a_refusal_that_says_how_long_the_prompt_was_cuts_to_fit_in_one_step(
    mode: str, most_pieces: int
) -> None:
    settings = make_settings(llm_context_tokens=1200)
    model = FakeModel(mode=mode, count=lambda call: len(call.system) // 4 + len(call.user) * 5 // 4)
    text = prose(2000)  # one call by the estimate, ~2.5x the window by the model's count
    assert Summarizer(model, ModelBudget.of(settings)).plan(text, TITLE)
    run(text, settings, model)

    [first, *rest] = model.records
    assert first.outcome == "refused"
    if mode == "refuse":  # scaled by the count: every piece fits at once
        assert all(r.outcome == "ok" for r in rest)
        assert len(model.texts(PART)) >= 3
    else:  # no count: halved, and halved again until the pieces fit
        pieces_after_first = [r for r in rest if r.call.system.startswith(PART)][:most_pieces]
        assert any(r.outcome == "refused" for r in pieces_after_first)


def test_a_single_call_the_model_counts_longer_falls_back_to_chunks() -> None:
    settings, model = make_settings(), FakeModel()
    text = cyrillic(2000)  # ~670 estimated tokens: one call; the model counts ~2000
    summarizer = Summarizer(model, ModelBudget.of(settings))
    summarizer.plan(text, TITLE)  # fits by the estimate
    summary = summarizer.summarize(text, TITLE)

    assert model.records[0].outcome == "overflow"
    assert len(model.texts(PART)) >= 2
    assert summary.llm_calls == len(model.records)


def test_a_retry_after_a_failure_does_not_redo_finished_chunks() -> None:
    settings = make_settings()
    text = prose(30_000)
    first, reports = FakeModel(delay=0.01, fail_on=frozenset({5})), Reports()
    with pytest.raises(LLMError):
        Summarizer(first, ModelBudget.of(settings)).summarize(
            text, TITLE, PartialResults({}, reports)
        )
    stored = reports.last_summaries
    finished = first.texts(PART)
    assert len(finished) >= 4  # what was in flight when call 5 failed was kept too
    assert len(stored) == len(finished)

    second, resumed = FakeModel(), Reports()
    run(text, settings, second, PartialResults(dict(stored), resumed))
    redone = set(second.texts(PART)) & set(finished)
    assert not redone
    spans = level_keys(resumed.last_summaries, 0)
    assert len(second.texts(PART)) == len(spans) - len(stored)
    assert resumed.seen[0][0].chunks_done == len(stored)

    third = FakeModel()  # every chunk stored: only the final call is made
    run(text, settings, third, PartialResults(dict(resumed.last_summaries)))
    assert [r.call.system.startswith(COMBINE) for r in third.records] == [True]


def test_progress_moves_from_none_done_to_all_but_the_final_call() -> None:
    settings, reports = make_settings(), Reports()
    run(prose(30_000), settings, FakeModel(), PartialResults({}, reports))
    done = [p.chunks_done for p, _ in reports.seen]
    totals = {p.chunks_total for p, _ in reports.seen}
    [total] = totals
    assert done == list(range(total))  # one report a finished chunk, the final call pending
    assert all(p.chunks_done < p.chunks_total for p, _ in reports.seen)


def test_a_budget_with_no_room_for_any_chunk_is_a_context_overflow() -> None:
    settings = make_settings(llm_num_predict=900)
    with pytest.raises(ContextOverflow):
        Summarizer(FakeModel(), ModelBudget.of(settings)).summarize(prose(10_000), TITLE)


def test_worker_stores_progress_while_it_runs_and_resumes_after_a_failure() -> None:
    settings = make_settings(summarize_queue_url="q", max_receive_count=3)
    store, queue = InMemoryTextStore(), InMemoryWorkQueue()
    repository = InMemoryDocumentRepository()
    service = DocumentService(store, repository, queue, IntakeLimits.of(settings))
    text = prose(30_000)
    document = service.submit(text, Submission("corr", title=TITLE)).document
    seen: list[Progress | None] = []

    def look() -> None:  # what GET /documents/{id} would show during each call
        current = repository.get(document.id)
        seen.append(current.progress if current else None)

    def deliver(model: FakeModel, attempt: int) -> Outcome:
        worker = SummarizeWorker(
            store,
            repository,
            queue,
            Summarizer(model, ModelBudget.of(settings)),
            WorkerPolicy.of(settings),
        )
        delivery = Delivery(queue.sent[-1].model_dump_json(), attempt, "rh")
        return worker.process(delivery, lease_seconds=60)

    first = FakeModel(fail_on=frozenset({6}), on_call=look)
    with pytest.raises(RetryLater):
        deliver(first, 1)
    failed = repository.get(document.id)
    assert failed is not None
    assert failed.status is Status.QUEUED
    assert failed.progress is not None
    assert failed.progress.chunks_done >= 4
    assert len(failed.chunk_summaries) == failed.progress.chunks_done

    second = FakeModel(on_call=look)
    assert deliver(second, 2) is Outcome.DONE
    assert not set(second.texts(PART)) & set(first.texts(PART))
    done = repository.get(document.id)
    assert done is not None
    assert done.status is Status.DONE
    assert done.summary
    assert (done.progress, done.chunk_summaries) == (None, {})
    moving = [p.chunks_done for p in seen if p is not None]
    assert moving[0] == 0
    assert max(moving) > failed.progress.chunks_done
