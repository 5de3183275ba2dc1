"""Turning a text into a stored-ready summary with one or more LLM calls.

A text whose prompt fits the context budget is summarized in one guarded call
(`guarded_call`); a longer one is map-reduced (`map_reduce`). When no answer of the model can
be used, the document's own central sentences are stored instead (`extractive`).
"""

from __future__ import annotations

from docsum.domain.document import Summary, SummaryMethod
from docsum.domain.errors import ContextOverflow, GuardRejected
from docsum.domain.options import LANGUAGE_NAMES, SummaryOptions
from docsum.platform.observability import logger
from docsum.platform.retry import Deadline
from docsum.ports.llm import ChatCall, LanguageModel
from docsum.summary import extractive, guard
from docsum.summary.budget import ModelBudget
from docsum.summary.guarded_call import GuardOutcome, ModelCalls, Tally, Target
from docsum.summary.language import detect as detect_language
from docsum.summary.map_reduce import MapReduce, PartialResults
from docsum.summary.prompts import SYSTEM_PROMPT, system_prompt, with_title, words_for


class Summarizer:
    def __init__(
        self,
        llm: LanguageModel,
        settings: ModelBudget,
        detect: guard.Detector = detect_language,
    ) -> None:
        self._settings = settings
        self._detect = detect
        self._calls = ModelCalls(llm, settings, detect)

    @property
    def model(self) -> str:
        return self._calls.model

    def estimate_tokens(self, text: str) -> int:
        return self._calls.estimate_tokens(text)

    def room(self, system: str, title: str | None) -> int:
        return self._calls.room(system, title)

    def target(
        self, text: str, options: SummaryOptions, page_starts: list[int] | None = None
    ) -> Target:
        detected = self._detect(text)
        source_language = detected.language if detected is not None else None
        language = source_language if options.language == "auto" else options.language
        budget = options.budget(self._settings.summary_max_chars)
        return Target(options, budget, language, source_language, page_starts)

    def plan(self, text: str, title: str | None = None, target: Target | None = None) -> ChatCall:
        """One call with `num_ctx` sized to the prompt plus the answer, within the budget."""
        target = target or self.target(text, SummaryOptions())
        system = system_prompt(
            SYSTEM_PROMPT, words_for(target.budget), target.options.format, target.language
        )
        return self._calls.sized_call(system, with_title(title) + text, target.budget)

    def summarize(
        self,
        text: str,
        title: str | None = None,
        partials: PartialResults | None = None,
        deadline: Deadline | None = None,
        options: SummaryOptions | None = None,
        page_starts: list[int] | None = None,
    ) -> Summary:
        """One call when the prompt fits, else map-reduce over chunks (see the module doc);
        when no answer passes the guard, the extractive summary. `ContextOverflow` only when
        the budget cannot hold even a small chunk; `GuardRejected` only when the text has no
        sentence to extract; `DeadlineReached` when `deadline` leaves no time for the next
        call (finished chunk summaries are in `partials` by then). `page_starts`: the
        source's page map (citations name pages)."""
        target = self.target(text, options or SummaryOptions(), page_starts)
        tally = Tally()
        try:
            return self._summarize(text, title, partials, target, tally, deadline)
        except GuardRejected as exc:
            tally.add_answers(exc.answers)  # the rejected answers cost calls too
            tally.outcomes[GuardOutcome.REJECTED.value] += 1
            for problem in exc.problems:
                tally.outcomes[f"check_{problem.check.value}"] += 1
            fallback = self.extractive(text, target, tally, exc)
            if fallback is not None:
                return fallback
            exc.outcomes = dict(tally.outcomes)
            raise

    def extractive(
        self, text: str, target: Target, tally: Tally, rejected: GuardRejected
    ) -> Summary | None:
        """The extractive summary of `text` in the requested length and format, once no
        answer of the model could be used; None when `text` has no sentence to extract."""
        form = target.options.format
        found = extractive.summarize(text, target.budget, form, target.page_starts)
        if found is None:
            return None
        # The checks only: a problem's detail quotes what the model wrote (and so the text).
        checks = sorted({p.check.value for p in rejected.problems})
        logger.warning(
            "no answer passed the guard: extractive summary stored", extra={"checks": checks}
        )
        tally.outcomes[GuardOutcome.EXTRACTIVE.value] += 1
        note = None
        if target.translated:
            # Sentences of the document, so in its language: a translation needs the model.
            asked = LANGUAGE_NAMES.get(target.language or "", target.language)
            note = (
                f"extractive summary in the document's language ({target.source_language}): "
                f"the model's answer in {asked} could not be used"
            )
        return self._calls.finish(
            found.text,
            target,
            tally,
            method=SummaryMethod.EXTRACTIVE,
            note=note,
            document=text,
            cited=found.grounding,
        )

    def _summarize(
        self,
        text: str,
        title: str | None,
        partials: PartialResults | None,
        target: Target,
        tally: Tally,
        deadline: Deadline | None,
    ) -> Summary:
        calls = self._calls
        cap: int | None = None
        try:
            single: ChatCall | None = self.plan(text, title, target)
        except ContextOverflow:
            single = None
        if single is not None:
            tally.calls += 1
            form = target.options.format
            source_chars = None if target.translates_short(text) else len(text)
            titled = with_title(title) + text
            expect = target.expect(titled, target.budget, form, source_chars, text)
            try:
                guarded = calls.guarded_call(
                    single, expect, deadline, target.verbatim(text, target.budget, form)
                )
            except ContextOverflow as exc:  # the model counted more than estimated: split
                tally.add_overflowed(exc)
                cap = calls.smaller_budget(exc, single, text, title)
            else:
                tally.add_guarded(guarded)
                return calls.finish_guarded(guarded, target, tally, text, titled)
        return MapReduce(
            calls, self._settings, title, partials or PartialResults(), tally, target, deadline
        ).run(text, cap)


__all__ = ["PartialResults", "Summarizer"]
