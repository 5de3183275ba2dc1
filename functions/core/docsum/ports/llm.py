"""The language model: one chat call with every option explicit, and its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatCall:
    """One chat completion request, with every option explicit."""

    system: str
    user: str
    num_ctx: int
    num_predict: int
    temperature: float
    seed: int | None = None
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    model_seconds: float
    done_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class LanguageModel(Protocol):
    name: str

    def chat(self, call: ChatCall) -> ChatAnswer:
        """Raises `LLMError` (transient or not) or `ContextOverflow`."""
        ...
