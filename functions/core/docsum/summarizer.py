"""Turning a text into a stored-ready summary with one or more LLM calls."""

from __future__ import annotations

import math

from docsum.errors import ContextOverflow, LLMError
from docsum.models import Summary
from docsum.ports import ChatAnswer, ChatCall, LanguageModel
from docsum.settings import Settings
from docsum.text import shape_summary

SYSTEM_PROMPT = (
    "You write summaries. Summarize the document the user gives you in at most {words} words "
    "of plain prose, in the same language as the document. Start directly with the content: "
    "no preamble, no title, no headings, no lists, no markdown. Use only facts from the document."
)
_CTX_STEP = 256
_MIN_CTX = 2048


class Summarizer:
    def __init__(self, llm: LanguageModel, settings: Settings) -> None:
        self._llm = llm
        self._settings = settings

    @property
    def model(self) -> str:
        return self._llm.name

    def estimate_tokens(self, text: str) -> int:
        return math.ceil(len(text) / self._settings.llm_chars_per_token)

    def plan(self, text: str, title: str | None = None) -> ChatCall:
        """One call with `num_ctx` sized to the prompt plus the answer, within the budget."""
        s = self._settings
        words = max(40, s.summary_max_chars // 7)  # ~7 chars a word incl. space: leaves margin
        system = SYSTEM_PROMPT.format(words=words)
        user = f"Title: {title}\n\n{text}" if title else text
        prompt_tokens = self.estimate_tokens(system) + self.estimate_tokens(user) + 32
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

    def summarize(self, text: str, title: str | None = None) -> Summary:
        answer = self.call(self.plan(text, title))
        shaped = shape_summary(answer.text, self._settings.summary_max_chars)
        if not shaped:
            raise LLMError("empty_answer", "the model returned no usable text", transient=True)
        return Summary(
            text=shaped,
            model=answer.model,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            model_seconds=answer.model_seconds,
        )
