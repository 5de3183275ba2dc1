"""Turning a text into a stored-ready summary with one or more LLM calls.

A text whose prompt fits the context budget is summarized in one call. A longer one is
map-reduced: split into chunks that fit (`chunking`), the chunks summarized concurrently (at
most `llm_parallel_calls` at a time: what the Ollama host serves at once), the partial
summaries joined and summarized again, level by level, until they fit one final call. Each
finished chunk summary is reported through `PartialResults`, so the worker can keep it with
the document; a retry passes them back and they are reused instead of asked for again.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from docsum.chunking import Chunk, TokenEstimator, split_text
from docsum.errors import ContextOverflow, DeadlineReached, LLMError
from docsum.models import Progress, Summary
from docsum.observability import logger
from docsum.ports import ChatAnswer, ChatCall, LanguageModel
from docsum.retry import Deadline
from docsum.settings import Settings
from docsum.text import shape_summary

_RULES = (
    "of plain prose, in the same language as the {source}. Start directly with the content: "
    "no preamble, no title, no headings, no lists, no markdown. Use only facts from the {source}."
)
SYSTEM_PROMPT = (
    "You write summaries. Summarize the document the user gives you in at most {words} words "
    + _RULES.format(source="document")
)
PART_PROMPT = (
    "You write summaries. The user gives you one part of a longer document. Summarize this "
    "part in at most {words} words " + _RULES.format(source="text")
)
COMBINE_PROMPT = (
    "You write summaries. The user gives you summaries of consecutive parts of one document, "
    "in order. Combine them into one summary of the whole document in at most {words} words "
    + _RULES.format(source="summaries")
)
_CTX_STEP = 256
_MIN_CTX = 2048
_PROMPT_MARGIN = 32  # chat template tokens around the messages


def _words(chars: int) -> int:
    return max(40, chars // 7)  # ~7 chars a word incl. space: leaves margin


@dataclass
class PartialResults:
    """Chunk summaries of a long text: `summaries` holds those a previous attempt finished
    (reused, never asked for again) and gains each new one; `on_progress` gets the progress
    and all summaries so far after every change (the worker stores them with the document)."""

    summaries: dict[str, str] = field(default_factory=dict)
    on_progress: Callable[[Progress, dict[str, str]], None] | None = None


@dataclass
class _Tally:
    """What every call of one summarization cost (main thread only)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0

    def add(self, answer: ChatAnswer) -> None:
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens
        self.model_seconds += answer.model_seconds


class Summarizer:
    def __init__(self, llm: LanguageModel, settings: Settings) -> None:
        self._llm = llm
        self._settings = settings
        self.estimator = TokenEstimator(settings.llm_chars_per_token)

    @property
    def model(self) -> str:
        return self._llm.name

    def estimate_tokens(self, text: str) -> int:
        return self.estimator.estimate(text)

    def plan(self, text: str, title: str | None = None) -> ChatCall:
        """One call with `num_ctx` sized to the prompt plus the answer, within the budget."""
        system = SYSTEM_PROMPT.format(words=_words(self._settings.summary_max_chars))
        return self.sized_call(system, _with_title(title) + text)

    def sized_call(self, system: str, user: str) -> ChatCall:
        """A call whose `num_ctx` fits the estimated prompt plus the answer; `ContextOverflow`
        when that exceeds `llm_context_tokens`."""
        s = self._settings
        prompt_tokens = self.estimate_tokens(system) + self.estimate_tokens(user) + _PROMPT_MARGIN
        needed = prompt_tokens + s.llm_num_predict
        if needed > s.llm_context_tokens:
            raise ContextOverflow(needed, s.llm_context_tokens)
        num_ctx = max(_MIN_CTX, math.ceil(needed / _CTX_STEP) * _CTX_STEP)
        return ChatCall(
            system=system,
            user=user,
            num_ctx=min(num_ctx, s.llm_context_tokens),
            num_predict=s.llm_num_predict,
            temperature=s.llm_temperature,
            seed=s.llm_seed,
        )

    def room(self, system: str, title: str | None) -> int:
        """Estimated tokens left for the text in a call with this system prompt and title."""
        s = self._settings
        fixed = self.estimate_tokens(system) + self.estimate_tokens(_with_title(title))
        # -1: the splitter adds float weights, the estimate rounds up once.
        return s.llm_context_tokens - s.llm_num_predict - _PROMPT_MARGIN - fixed - 1

    def call(self, call: ChatCall) -> ChatAnswer:
        answer = self._llm.chat(call)
        # Ollama truncates an over-long prompt silently; the only trace is a prompt count that
        # fills the window. Room for the answer was planned, so a count past it means the
        # estimate was wrong and the model did not see the whole text.
        if answer.prompt_tokens > call.num_ctx - call.num_predict:
            raise ContextOverflow(
                answer.prompt_tokens + call.num_predict, call.num_ctx, "reported by the model"
            )
        return answer

    def timed_call(self, call: ChatCall, deadline: Deadline | None) -> ChatAnswer:
        """`call`, unless the invocation cannot wait for it (`DeadlineReached`)."""
        if deadline is None:
            return self.call(call)
        if not deadline.allows_call():
            raise DeadlineReached()
        started = deadline.clock()
        try:
            return self.call(call)
        finally:
            deadline.observe((deadline.clock() - started).total_seconds())

    def summarize(
        self,
        text: str,
        title: str | None = None,
        partials: PartialResults | None = None,
        deadline: Deadline | None = None,
    ) -> Summary:
        """One call when the prompt fits, else map-reduce over chunks (see the module doc).
        `ContextOverflow` only when the budget cannot hold even a small chunk;
        `DeadlineReached` when `deadline` leaves no time for the next call (finished chunk
        summaries are in `partials` by then)."""
        tally = _Tally()
        cap: int | None = None
        try:
            single: ChatCall | None = self.plan(text, title)
        except ContextOverflow:
            single = None
        if single is not None:
            tally.calls += 1
            try:
                answer = self.timed_call(single, deadline)
            except ContextOverflow as exc:  # the model counted more than estimated: split
                cap = self.smaller_budget(exc, single, text, title)
            else:
                tally.add(answer)
                return self.finish(answer, tally)
        return _MapReduce(
            self, self._settings, title, partials or PartialResults(), tally, deadline
        ).run(text, cap)

    def smaller_budget(
        self, exc: ContextOverflow, call: ChatCall, text: str, title: str | None
    ) -> int:
        """Estimated tokens a piece of `text` may have after `call` (title and `text`)
        overflowed: pieces that size fit the window by the model's own count."""
        overhead = (
            self.estimate_tokens(call.system)
            + self.estimate_tokens(_with_title(title))
            + _PROMPT_MARGIN
        )
        return max(1, int(self.estimate_tokens(text) * _shrink(exc, call, overhead)))

    def finish(self, answer: ChatAnswer, tally: _Tally) -> Summary:
        shaped = shape_summary(answer.text, self._settings.summary_max_chars)
        if not shaped:
            raise LLMError("empty_answer", "the model returned no usable text", transient=True)
        return Summary(
            text=shaped,
            model=answer.model,
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            model_seconds=round(tally.model_seconds, 3),
            llm_calls=tally.calls,
        )


@dataclass(eq=False)
class _Task:
    """One chunk to summarize; a chunk the model found too long gets smaller children."""

    chunk: Chunk
    parent: _Task | None = None
    children: list[_Task] = field(default_factory=list)
    result: str | None = None


class _MapReduce:
    """One map-reduce run. Only the calling thread touches its state; pool threads only call
    the model."""

    def __init__(
        self,
        summarizer: Summarizer,
        settings: Settings,
        title: str | None,
        partials: PartialResults,
        tally: _Tally,
        deadline: Deadline | None,
    ) -> None:
        self._s = summarizer
        self._deadline = deadline
        self._settings = settings
        self._title = title
        self._partials = partials
        self._tally = tally
        self._done = 0
        self._total = 1  # the final combine call
        self._final_system = COMBINE_PROMPT.format(words=_words(settings.summary_max_chars))
        combine_room = summarizer.room(self._final_system, title)
        # A partial of at most a third of a combine call's room (a character is at most a
        # token) makes every reduce level at least halve the text, so the recursion ends.
        self._partial_chars = min(settings.summary_max_chars, combine_room // 3)
        if self._partial_chars < 1:
            window = settings.llm_context_tokens
            raise ContextOverflow(window - combine_room, window, "no room for a chunk")
        words = _words(self._partial_chars)
        self._part_system = PART_PROMPT.format(words=words)
        self._combine_system = COMBINE_PROMPT.format(words=words)

    def run(self, text: str, cap: int | None) -> Summary:
        """`cap`: a chunk size (estimated tokens) below the budget, once the model has
        counted more tokens for this text than estimated."""
        level, source = 0, text
        while True:
            if level > 0:
                answer, cap = self._final(source)
                if answer is not None:
                    return self._s.finish(answer, self._tally)
            partials = self._level(level, source, cap)
            joined = "\n\n".join(p for p in partials if p)
            if level > 0 and self._s.estimate_tokens(joined) >= self._s.estimate_tokens(source):
                raise ContextOverflow(
                    self._s.estimate_tokens(source),
                    self._settings.llm_context_tokens,
                    "partial summaries do not get shorter",
                )
            level, source = level + 1, joined

    def _system(self, level: int) -> str:
        return self._part_system if level == 0 else self._combine_system

    def _final(self, source: str) -> tuple[ChatAnswer | None, int | None]:
        """The final combine call if the partials fit one; else no answer, and a chunk size
        cap when the model counted them longer than estimated."""
        try:
            call = self._s.sized_call(self._final_system, _with_title(self._title) + source)
        except ContextOverflow:
            return None, None
        if self._deadline is not None and not self._deadline.allows_call():
            raise DeadlineReached()
        self._tally.calls += 1
        try:
            answer = self._s.timed_call(call, self._deadline)
        except ContextOverflow as exc:
            return None, self._s.smaller_budget(exc, call, source, self._title)
        self._tally.add(answer)
        return answer, None

    def _level(self, level: int, source: str, cap: int | None) -> list[str]:
        budget = self._s.room(self._system(level), self._title)
        budget = max(1, budget if cap is None else min(budget, cap))
        tasks = [_Task(chunk) for chunk in split_text(source, budget, self._s.estimator)]
        self._total += len(tasks)
        pending = deque(t for t in tasks if not self._reuse(level, t))
        logger.info(
            "map-reduce level",
            extra={"level": level, "chunks": len(tasks), "reused": len(tasks) - len(pending)},
        )
        self._report()
        self._run(level, pending)
        return [t.result or "" for t in tasks]

    def _reuse(self, level: int, task: _Task) -> bool:
        stored = self._partials.summaries.get(task.chunk.key(level))
        if stored is None:
            return False
        task.result = stored
        self._done += 1
        return True

    def _run(self, level: int, pending: deque[_Task]) -> None:
        """Summarize `pending` with at most `llm_parallel_calls` calls in flight. After a
        failure, or once the deadline leaves no time for another call, nothing new starts;
        what is in flight finishes and is kept, then it raises."""
        limit = self._settings.llm_parallel_calls
        running: dict[Future[ChatAnswer], tuple[_Task, ChatCall]] = {}
        failure: Exception | None = None
        deadline = self._deadline
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="chunk") as pool:
            while pending or running:
                while pending and failure is None and len(running) < limit:
                    if deadline is not None and not deadline.allows_call():
                        failure = DeadlineReached()
                        break
                    task = pending.popleft()
                    call = self._s.sized_call(
                        self._system(level), _with_title(self._title) + task.chunk.text
                    )
                    running[pool.submit(self._s.timed_call, call, deadline)] = (task, call)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task, call = running.pop(future)
                    self._tally.calls += 1
                    try:
                        answer = future.result()
                    except ContextOverflow as exc:
                        if failure is None:
                            try:
                                pending.extendleft(reversed(self._split(level, task, exc, call)))
                            except ContextOverflow as unsplittable:
                                failure = unsplittable
                    except Exception as exc:  # re-raised once the calls in flight have ended
                        failure = failure or exc
                    else:
                        self._tally.add(answer)
                        self._complete(level, task, shape_summary(answer.text, self._partial_chars))
        if failure is not None:
            raise failure

    def _split(self, level: int, task: _Task, exc: ContextOverflow, call: ChatCall) -> list[_Task]:
        """Smaller children for a chunk the model counted more tokens for than planned;
        returns those still to summarize."""
        chunk = task.chunk
        budget = self._s.smaller_budget(exc, call, chunk.text, self._title)
        pieces = split_text(chunk.text, budget, self._s.estimator)
        if len(pieces) < 2:
            raise exc
        logger.warning(
            "chunk too long for the model: splitting it",
            extra={"level": level, "chunk": chunk.key(level), "pieces": len(pieces)},
        )
        task.children = [
            _Task(Chunk(chunk.start + p.start, chunk.start + p.end, p.text), parent=task)
            for p in pieces
        ]
        self._total += len(pieces) - 1
        todo = [child for child in task.children if not self._reuse(level, child)]
        if not todo:
            self._complete_parents(level, task)
        self._report()
        return todo

    def _complete(self, level: int, task: _Task, summary: str) -> None:
        task.result = summary
        self._partials.summaries[task.chunk.key(level)] = summary
        self._done += 1
        if task.parent is not None:
            self._complete_parents(level, task.parent)
        self._report()

    def _complete_parents(self, level: int, task: _Task | None) -> None:
        """A split chunk is done when all its children are; store it whole, so a retry reuses
        it without asking the model (and overflowing) again."""
        while (
            task is not None and task.children and all(c.result is not None for c in task.children)
        ):
            task.result = "\n\n".join(c.result for c in task.children if c.result)
            self._partials.summaries[task.chunk.key(level)] = task.result
            task = task.parent

    def _report(self) -> None:
        if self._partials.on_progress is not None:
            progress = Progress(chunks_done=self._done, chunks_total=self._total)
            self._partials.on_progress(progress, dict(self._partials.summaries))


def _with_title(title: str | None) -> str:
    return f"Title: {title}\n\n" if title else ""


def _shrink(exc: ContextOverflow, call: ChatCall, overhead: int) -> float:
    """How much smaller (in estimated tokens) the text of `call` must get after the model
    refused it or counted more tokens for it than planned: at least half. `overhead`: the
    estimated tokens of the rest of the prompt (system prompt, title, template)."""
    counted = exc.planned_tokens - call.num_predict  # the model's count of the whole prompt
    # Only a count past the window is known to be the whole prompt (a host that refused it
    # said how long it was); a count up to the window may be Ollama's silent truncation.
    if exc.window_tokens == call.num_ctx and counted > call.num_ctx:
        room = call.num_ctx - call.num_predict - overhead
        if room > 0:
            return min(0.5, 0.9 * room / (counted - overhead))
    return 0.5


__all__ = ["PartialResults", "Summarizer"]
