"""Map-reduce over a text too long for one call: split into chunks that fit (`chunking`), the
chunks summarized concurrently (at most `llm_parallel_calls` at a time: what the Ollama host
serves at once), the partial summaries joined and summarized again, level by level, until they
fit one final call. Each finished chunk summary is reported through `PartialResults`, so the
worker can keep it with the document; a retry passes them back and they are reused."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from docsum.domain.document import Progress, Summary
from docsum.domain.errors import ContextOverflow, DeadlineReached
from docsum.domain.options import SummaryFormat
from docsum.platform.observability import logger
from docsum.platform.retry import Deadline
from docsum.ports.llm import ChatCall
from docsum.summary import guard
from docsum.summary.budget import ModelBudget
from docsum.summary.chunking import Chunk, split_text
from docsum.summary.guarded_call import Guarded, GuardOutcome, ModelCalls, Tally, Target
from docsum.summary.prompts import COMBINE_PROMPT, PART_PROMPT, system_prompt, with_title, words_for


@dataclass
class PartialResults:
    """Chunk summaries of a long text: `summaries` holds those a previous attempt finished
    (reused, never asked for again) and gains each new one; `on_progress` gets the progress
    and all summaries so far after every change (the worker stores them with the document)."""

    summaries: dict[str, str] = field(default_factory=dict)
    on_progress: Callable[[Progress, dict[str, str]], None] | None = None


@dataclass(eq=False)
class _Task:
    """One chunk to summarize; a chunk the model found too long gets smaller children."""

    chunk: Chunk
    parent: _Task | None = None
    children: list[_Task] = field(default_factory=list)
    result: str | None = None


class MapReduce:
    """One map-reduce run. Only the calling thread touches its state; pool threads only call
    the model."""

    def __init__(
        self,
        calls: ModelCalls,
        settings: ModelBudget,
        title: str | None,
        partials: PartialResults,
        tally: Tally,
        target: Target,
        deadline: Deadline | None,
    ) -> None:
        self._s = calls
        self._deadline = deadline
        self._settings = settings
        self._title = title
        self._partials = partials
        self._tally = tally
        self._target = target
        self._text = ""  # the whole document, once `run` starts
        self._done = 0
        self._total = 1  # the final combine call
        # Parts are summarized in the target language as prose; only the final combine call
        # writes the requested format and length.
        self._final_system = system_prompt(
            COMBINE_PROMPT, words_for(target.budget), target.options.format, target.language
        )
        combine_room = calls.room(self._final_system, title)
        # A partial of at most a third of a combine call's room (a character is at most a
        # token) makes every reduce level at least halve the text, so the recursion ends.
        self._partial_chars = min(settings.summary_max_chars, combine_room // 3)
        if self._partial_chars < 1:
            window = settings.llm_context_tokens
            raise ContextOverflow(window - combine_room, window, "no room for a chunk")
        words = words_for(self._partial_chars)
        prose, language = SummaryFormat.PARAGRAPH, target.language
        self._part_system = system_prompt(PART_PROMPT, words, prose, language)
        self._combine_system = system_prompt(COMBINE_PROMPT, words, prose, language)

    def run(self, text: str, cap: int | None) -> Summary:
        """`cap`: a chunk size (estimated tokens) below the budget, once the model has
        counted more tokens for this text than estimated."""
        self._text = text
        level, source = 0, text
        while True:
            if level > 0:
                guarded, cap = self._final(source)
                if guarded is not None:
                    # Aligned to the whole text: it cites the original, never the partials.
                    return self._s.finish_guarded(
                        guarded, self._target, self._tally, self._text, self._whole()
                    )
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

    def _expect(self, level: int, source: str) -> guard.Expectation:
        """A chunk's summary answers to its chunk (and must be shorter); a combined one to the
        whole document (figures, refusals), its length only to the budget."""
        prose = SummaryFormat.PARAGRAPH
        if level == 0:
            titled = with_title(self._title) + source
            return self._target.expect(titled, self._partial_chars, prose, len(source))
        return self._target.expect(self._whole(), self._partial_chars, prose, None, self._text)

    def _whole(self) -> str:
        """What a combined summary answers to: the title and the whole document."""
        return with_title(self._title) + self._text

    def _final(self, source: str) -> tuple[Guarded | None, int | None]:
        """The final combine call if the partials fit one; else no answer, and a chunk size
        cap when the model counted them longer than estimated."""
        target = self._target
        try:
            call = self._s.sized_call(
                self._final_system, with_title(self._title) + source, target.budget
            )
        except ContextOverflow:
            return None, None
        if self._deadline is not None and not self._deadline.allows_call():
            raise DeadlineReached()
        self._tally.calls += 1
        form = target.options.format
        expect = target.expect(self._whole(), target.budget, form, None, self._text)
        try:
            guarded = self._s.guarded_call(call, expect, self._deadline)
        except ContextOverflow as exc:
            self._tally.add_overflowed(exc)
            return None, self._s.smaller_budget(exc, call, source, self._title)
        self._tally.add_guarded(guarded)
        return guarded, None

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
        running: dict[Future[Guarded], tuple[_Task, ChatCall]] = {}
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
                        self._system(level),
                        with_title(self._title) + task.chunk.text,
                        self._partial_chars,
                    )
                    expect = self._expect(level, task.chunk.text)
                    fallback = self._target.extract(task.chunk.text, self._partial_chars)
                    future = pool.submit(
                        self._s.guarded_call,
                        call,
                        expect,
                        deadline,
                        fallback,
                        GuardOutcome.EXTRACT,
                    )
                    running[future] = (task, call)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task, call = running.pop(future)
                    self._tally.calls += 1
                    try:
                        guarded = future.result()
                    except ContextOverflow as exc:
                        self._tally.add_overflowed(exc)
                        if failure is None:
                            try:
                                pending.extendleft(reversed(self._split(level, task, exc, call)))
                            except ContextOverflow as unsplittable:
                                failure = unsplittable
                    except Exception as exc:  # re-raised once the calls in flight have ended
                        failure = failure or exc
                    else:
                        self._tally.add_guarded(guarded)
                        self._complete(level, task, guarded.text)
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
        if self._deadline is not None:
            self._deadline.kept_result()
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
