"""The guarded call: one model call sized to its prompt, timed against the invocation's
deadline, and its answer shaped and checked by the guard, with the retry ladder when it fails
(a stronger repeat penalty, a shorter answer, the next seed and the problems as feedback; then
salvage, then a fallback). `Tally` adds up what every call of one summarization cost; `finish`
makes the stored-ready summary with its citations."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum

from docsum.domain.document import (
    Citation,
    GroundingStats,
    Summary,
    SummaryMethod,
    SummarySentence,
)
from docsum.domain.errors import ContextOverflow, DeadlineReached, GuardRejected, LLMError
from docsum.domain.ids import normalize_whitespace
from docsum.domain.options import SummaryFormat, SummaryOptions
from docsum.platform.observability import logger
from docsum.platform.retry import Deadline
from docsum.ports.llm import ChatAnswer, ChatCall, LanguageModel
from docsum.summary import extractive, guard
from docsum.summary.addressing import addresses_reader
from docsum.summary.budget import PROMPT_MARGIN, ModelBudget, num_ctx_for, num_predict_for, shrink
from docsum.summary.chunking import TokenEstimator
from docsum.summary.grounding import Grounding, page_of
from docsum.summary.prompts import materialize, with_title
from docsum.summary.shaping import clean_bullets, clean_summary, shape_summary


class GuardOutcome(StrEnum):
    """What the guard did with one answer (each counted as the metric `Guard_<outcome>`)."""

    PASSED = "passed"
    UNSUPPORTED_DROPPED = "unsupported_dropped"  # unsupported sentences of the first answer cut
    RETRY_PASSED = "retry_passed"
    SALVAGED = "salvaged"  # repeated / unsupported sentences removed after the retry
    VERBATIM = "verbatim"  # the text itself: it fits the budget and no answer passed
    EXTRACT = "extract"  # a chunk's central sentences stand in for its summary (never final)
    REJECTED = "rejected"  # no answer for the whole text passed: the extractive summary is kept
    EXTRACTIVE = "extractive"  # the stored summary is the extractive one


@dataclass
class Tally:
    """What every call of one summarization cost, and what the guard did (main thread only)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, answer: ChatAnswer) -> None:
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens
        self.model_seconds += answer.model_seconds

    def add_answers(self, answers: tuple[ChatAnswer, ...]) -> None:
        """The calls one guarded call took (passed or rejected)."""
        self.calls += max(len(answers) - 1, 0)  # the first call is counted when it is made
        for answer in answers:
            self.add(answer)

    def add_overflowed(self, overflow: ContextOverflow) -> None:
        """The calls of a guarded call that ended in an overflow: the overflowing call is
        counted when it is made, the answers before it here."""
        self.calls += len(overflow.answered)
        for answer in overflow.answered:
            self.add(answer)

    def add_guarded(self, guarded: Guarded) -> None:
        self.add_answers(guarded.answers)
        self.outcomes[guarded.outcome.value] += 1
        for problem in guarded.problems:  # each failed answer, check by check
            self.outcomes[f"check_{problem.check.value}"] += 1


@dataclass(frozen=True)
class Guarded:
    """An answer that passed the guard (shaped, ready to store) and the calls it took."""

    text: str
    answers: tuple[ChatAnswer, ...]
    outcome: GuardOutcome
    problems: tuple[guard.Problem, ...] = ()  # what the answers that failed the guard failed
    dropped: int = 0  # unsupported sentences left out of `text`


@dataclass(frozen=True)
class Target:
    """What one summarization must produce: the options, resolved against the document."""

    options: SummaryOptions
    budget: int
    language: str | None  # the language the summary must be in (None: unknown, unchecked)
    source_language: str | None
    page_starts: list[int] | None = None  # the source's page map (citations name pages)

    def expect(
        self,
        source: str,
        budget: int,
        form: SummaryFormat,
        source_chars: int | None,
        document: str | None = None,
    ) -> guard.Expectation:
        """`document`: the text citations point into, when `source` has a title before it."""
        return guard.Expectation(
            source,
            budget,
            form,
            self.language,
            source_chars,
            source_language=self.source_language,
            document=document,
        )

    @property
    def translated(self) -> bool:
        """Another language than the document's own is asked for."""
        return self.language not in (None, self.source_language)

    def translates_short(self, text: str) -> bool:
        """Another language than the text's own is asked for, and the text fits the budget:
        the answer is more a translation than a summary, so it need not be shorter."""
        return self.translated and len(normalize_whitespace(text)) <= self.budget

    def extract(self, text: str, budget: int) -> str | None:
        """The central sentences of `text` within `budget` (`docsum.summary.extractive`, which
        leaves out sentences that address the reader), in the language asked for: what stands
        in for one chunk's summary when no answer for it passed the guard. It cannot invent
        anything, and the final summary made from it is still checked."""
        if self.translated:
            return None
        found = extractive.summarize(text, budget)
        return found.text if found is not None else None

    def verbatim(self, text: str, budget: int, form: SummaryFormat) -> str | None:
        """`text` itself as its own summary, when it is what was asked for: it fits the
        budget, a paragraph is wanted and no other language than its own; never a text that
        addresses its reader (instructions, links, contacts): stored, it would pass them on."""
        plain = normalize_whitespace(text)
        fits = len(plain) <= budget and form is SummaryFormat.PARAGRAPH
        fits = fits and addresses_reader(plain) is None
        return plain if fits and not self.translated else None


class ModelCalls:
    """The calls of one model under the settings' budgets; one per worker, shared by every
    summarization (it keeps no state of its own)."""

    def __init__(self, llm: LanguageModel, settings: ModelBudget, detect: guard.Detector) -> None:
        self._llm = llm
        self._settings = settings
        self._detect = detect
        self.estimator = TokenEstimator(settings.llm_chars_per_token)

    @property
    def model(self) -> str:
        return self._llm.name

    def estimate_tokens(self, text: str) -> int:
        return self.estimator.estimate(text)

    def sized_call(self, system: str, user: str, answer_chars: int | None = None) -> ChatCall:
        """A call with `user` delimited (see `delimit`), `num_ctx` fitting the estimated
        prompt plus the answer; `ContextOverflow` when that exceeds `llm_context_tokens`.
        `answer_chars`: the summary's budget (sets `num_predict`)."""
        s = self._settings
        num_predict = s.llm_num_predict
        if answer_chars is not None:
            num_predict = num_predict_for(s.llm_num_predict, answer_chars)
        system, user = materialize(system, user)
        prompt_tokens = self.estimate_tokens(system) + self.estimate_tokens(user) + PROMPT_MARGIN
        needed = prompt_tokens + s.llm_num_predict
        if needed > s.llm_context_tokens:
            raise ContextOverflow(needed, s.llm_context_tokens)
        return ChatCall(
            system=system,
            user=user,
            num_ctx=num_ctx_for(needed, s.llm_context_tokens),
            num_predict=num_predict,
            temperature=s.llm_temperature,
            seed=s.llm_seed,
            repeat_penalty=s.llm_repeat_penalty,
            repeat_last_n=s.llm_repeat_last_n,
        )

    def room(self, system: str, title: str | None) -> int:
        """Estimated tokens left for the text in a call with this system prompt and title."""
        s = self._settings
        system, block = materialize(system, with_title(title))
        fixed = self.estimate_tokens(system) + self.estimate_tokens(block)
        # -1: the splitter adds float weights, the estimate rounds up once.
        return s.llm_context_tokens - s.llm_num_predict - PROMPT_MARGIN - fixed - 1

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
        answer = self.call(call)
        # Only an answered call says how long the next may take: a refused one (a chunk too
        # long, split next) comes back at once.
        deadline.observe((deadline.clock() - started).total_seconds())
        return answer

    def guarded_call(
        self,
        call: ChatCall,
        expect: guard.Expectation,
        deadline: Deadline | None,
        fallback: str | None = None,
        fallback_outcome: GuardOutcome = GuardOutcome.VERBATIM,
    ) -> Guarded:
        """The answer to `call` once it passes the guard: as is; without its unsupported
        sentences; a retry with a stronger repeat penalty, a shorter answer, another seed and
        the problems as feedback; what is left of an answer without its repeated or unsupported
        sentences; or else `fallback` (the source itself, or a chunk's extract).
        `GuardRejected` when none of these is there; `LLMError` when the first answer is
        empty. Both calls go through `timed_call`: `DeadlineReached` when `deadline` leaves no
        time for one."""
        expect = replace(expect, instructions=call.system)
        first = self.timed_call(call, deadline)
        text, problems = self._judge(first, expect)
        if not text:
            raise LLMError("empty_answer", "the model returned no usable text", transient=True)
        if not problems:
            return Guarded(text, (first,), GuardOutcome.PASSED)
        kept = tuple(problems)
        if all(p.check is guard.Check.UNSUPPORTED for p in problems):
            rest = guard.salvage(text, expect, self._detect)
            if rest is not None:
                outcome = GuardOutcome.UNSUPPORTED_DROPPED
                return Guarded(rest.text, (first,), outcome, kept, rest.dropped)
        s = self._settings
        retry = replace(
            call,
            system=call.system + " " + feedback(problems),
            repeat_penalty=s.guard_retry_repeat_penalty,
            num_predict=max(16, int(call.num_predict * s.guard_retry_num_predict_ratio)),
            seed=(call.seed or 0) + 1,
        )
        logger.warning("answer failed the guard: retrying", extra={"problems": _brief(problems)})
        try:
            second = self.timed_call(retry, deadline)
        except ContextOverflow as exc:
            exc.answered = (first,)
            raise
        retried, retry_problems = self._judge(second, expect)
        if not retry_problems:
            return Guarded(retried, (first, second), GuardOutcome.RETRY_PASSED, kept)
        both = (*kept, *retry_problems)
        for candidate in (retried, text):
            rest = guard.salvage(candidate, expect, self._detect)
            if rest is not None:
                answers = (first, second)
                return Guarded(rest.text, answers, GuardOutcome.SALVAGED, both, rest.dropped)
        if fallback is not None:
            logger.info("no answer passed the guard", extra={"fallback": fallback_outcome.value})
            return Guarded(fallback, (first, second), fallback_outcome, both)
        raise GuardRejected(retry_problems[0].reason, both, (first, second))

    def _judge(
        self, answer: ChatAnswer, expect: guard.Expectation
    ) -> tuple[str, list[guard.Problem]]:
        cleaned = (
            clean_bullets(answer.text)
            if expect.format is SummaryFormat.BULLETS
            else clean_summary(answer.text)
        )
        text = shape_summary(answer.text, expect.budget, expect.format)
        return text, guard.check(text, expect, self._detect, len(cleaned))

    def smaller_budget(
        self, exc: ContextOverflow, call: ChatCall, text: str, title: str | None
    ) -> int:
        """Estimated tokens a piece of `text` may have after `call` (title and `text`)
        overflowed: pieces that size fit the window by the model's own count."""
        # The rest of the prompt: system prompt, delimiters, title and chat template.
        around = max(0, self.estimate_tokens(call.user) - self.estimate_tokens(text))
        overhead = self.estimate_tokens(call.system) + around + PROMPT_MARGIN
        return max(1, int(self.estimate_tokens(text) * shrink(exc, call, overhead)))

    def finish_guarded(
        self, guarded: Guarded, target: Target, tally: Tally, document: str, titled: str
    ) -> Summary:
        """The summary of the final answer that passed the guard (`document`: the whole text,
        `titled`: with the title before it, as the guard judged the answer)."""
        verbatim = guarded.outcome is GuardOutcome.VERBATIM
        return self.finish(
            guarded.text,
            target,
            tally,
            guarded.answers[-1].model,
            verbatim,
            # The text itself is no more the model's writing than an extract is.
            SummaryMethod.EXTRACTIVE if verbatim else SummaryMethod.ABSTRACTIVE,
            dropped=guarded.dropped,
            document=document,
            titled=titled,
        )

    def finish(
        self,
        text: str,
        target: Target,
        tally: Tally,
        model: str = "",
        verbatim: bool = False,
        method: SummaryMethod = SummaryMethod.ABSTRACTIVE,
        note: str | None = None,
        dropped: int = 0,
        document: str = "",
        cited: Grounding | None = None,
        titled: str | None = None,
    ) -> Summary:
        """The stored-ready summary: `text` with each sentence's citations into `document`:
        `cited` when known (an extract cites itself), else the guard's own alignment (of the
        answer against `titled`, the document with its title), which passed only supported
        sentences."""
        source = document if titled is None else titled
        expect = target.expect(source, target.budget, target.options.format, None, document)
        found = cited or expect.grounded(text)
        return Summary(
            text=text,
            model=model or self._llm.name,
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            model_seconds=round(tally.model_seconds, 3),
            llm_calls=tally.calls,
            language=target.source_language,
            verbatim=verbatim,
            guard_outcomes=dict(tally.outcomes),
            method=method,
            note=note,
            sentences=[
                SummarySentence(
                    text=s.text,
                    support=s.support,
                    sources=[
                        Citation(
                            start=c.start,
                            end=c.end,
                            page=c.page or page_of(c.start, target.page_starts),
                        )
                        for c in s.sources
                    ],
                )
                for s in found.sentences
            ],
            grounding=GroundingStats(
                supported=found.supported,
                total=found.total,
                min_support=found.min_support,
                dropped=dropped,
            ),
        )


def feedback(problems: list[guard.Problem]) -> str:
    """What the retry is told about the answer that failed: each problem's reason (for
    unsupported sentences, which ones and what the document lacks)."""
    # The reasons only, except for unsupported sentences: another check's detail may quote
    # what the document itself tells the reader (an injected instruction, a link).
    told = "; ".join(
        dict.fromkeys(
            p.reason if p.check is guard.Check.UNSUPPORTED else guard.REASONS[p.check]
            for p in problems
        )
    )
    return f"Your previous answer was rejected: {told}. Write only what the document says."


def _brief(problems: list[guard.Problem]) -> list[str]:
    """The checks an answer failed, for the log: never their details, which quote what the
    model wrote (and so the document)."""
    return [p.check.value for p in problems]
