"""The LanguageModel port over the official `ollama` client.

The client (with httpx and its pydantic types, ~0.07 s) is imported on the first call, not at
the cold start's import."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from docsum.domain.errors import ContextOverflow, LLMError
from docsum.platform.lazy import on_first_use
from docsum.ports.llm import ChatAnswer, ChatCall

if TYPE_CHECKING:
    import ollama

_NS = 1e9


class OllamaLanguageModel:
    def __init__(self, host: str, model: str, timeout_seconds: float, keep_alive: str) -> None:
        self.name = model
        self._client = on_first_use(lambda: _client(host, timeout_seconds))
        self._keep_alive: str | float = float(keep_alive) if _is_number(keep_alive) else keep_alive

    def chat(self, call: ChatCall) -> ChatAnswer:
        import httpx
        import ollama

        options: dict[str, Any] = {
            "num_ctx": call.num_ctx,
            "num_predict": call.num_predict,
            "temperature": call.temperature,
            "repeat_penalty": call.repeat_penalty,
            "repeat_last_n": call.repeat_last_n,
        }
        if call.seed is not None:
            options["seed"] = call.seed
        try:
            response = self._client.chat(
                model=self.name,
                messages=[
                    {"role": "system", "content": call.system},
                    {"role": "user", "content": call.user},
                ],
                options=options,
                keep_alive=self._keep_alive,
                stream=False,
            )
        except ollama.ResponseError as exc:
            raise _classify(exc, call) from exc
        except httpx.TimeoutException as exc:
            raise LLMError("timeout", str(exc) or "no answer in time", transient=True) from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise LLMError("unreachable", str(exc), transient=True) from exc
        seconds = (response.total_duration or 0) / _NS
        return ChatAnswer(
            text=response.message.content or "",
            model=response.model or self.name,
            prompt_tokens=response.prompt_eval_count or 0,
            completion_tokens=response.eval_count or 0,
            model_seconds=round(seconds, 3),
            done_reason=response.done_reason,
        )


def probe_host(host: str, model: str, timeout_seconds: float = 2.0) -> None:
    """Raises unless an Ollama API answers at `host` and serves `model` (readiness: the
    worker's view)."""
    listed = _client(host, timeout_seconds).list().models
    served = {m.model or "" for m in listed}
    if model not in served:
        raise LookupError(f"{host} does not serve {model} (it serves {sorted(served)})")


def _client(host: str, timeout_seconds: float) -> ollama.Client:
    import ollama

    return ollama.Client(host=host, timeout=timeout_seconds)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _classify(exc: ollama.ResponseError, call: ChatCall) -> Exception:
    status = exc.status_code
    if status == 404:
        return LLMError("model_missing", exc.error, transient=True)
    if status in (408, 429) or status >= 500:
        return LLMError("server_error", f"{status} {exc.error}", transient=True)
    if "context" in exc.error.lower():
        # The offline host says "prompt is N tokens, which does not fit …"; keep N when given.
        counted = re.search(r"(\d+) tokens", exc.error)
        planned = int(counted.group(1)) + call.num_predict if counted else call.num_ctx
        return ContextOverflow(planned, call.num_ctx, exc.error)
    return LLMError("rejected", f"{status} {exc.error}", transient=False)
