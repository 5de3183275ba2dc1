"""Token budgets of one call: the context window (`num_ctx`) sized to the prompt plus the
answer, the answer's length (`num_predict`), and how much smaller a text must get after the
model counted it longer than planned."""

from __future__ import annotations

import math
from dataclasses import dataclass

from docsum.domain.errors import ContextOverflow
from docsum.platform.settings import SettingsSlice
from docsum.ports.llm import ChatCall

CTX_STEP = 256
MIN_CTX = 2048
PROMPT_MARGIN = 32  # chat template tokens around the messages


@dataclass(frozen=True)
class ModelBudget(SettingsSlice):
    """The summarizer's settings: the model call's budgets and sampling, the guard's retry."""

    llm_context_tokens: int
    llm_num_predict: int
    llm_temperature: float
    llm_seed: int | None
    llm_repeat_penalty: float
    llm_repeat_last_n: int
    guard_retry_repeat_penalty: float
    guard_retry_num_predict_ratio: float
    llm_chars_per_token: float
    summary_max_chars: int
    llm_parallel_calls: int


def num_ctx_for(needed: int, window: int) -> int:
    """The context for `needed` tokens: rounded up to a step, at least MIN_CTX, at most the
    window (the caller has checked that `needed` fits it)."""
    return min(max(MIN_CTX, math.ceil(needed / CTX_STEP) * CTX_STEP), window)


def num_predict_for(max_tokens: int, chars: int) -> int:
    """Answer tokens for a summary of `chars` characters: about half a token a character
    leaves room for the model's own overhead (bullets, a preamble the cleaning removes)."""
    return max(16, min(max_tokens, chars // 2))


def shrink(exc: ContextOverflow, call: ChatCall, overhead: int) -> float:
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
