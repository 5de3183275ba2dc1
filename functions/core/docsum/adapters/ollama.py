"""The LanguageModel port over the official `ollama` client, streaming.

A call is judged by its progress, not by a total: it may take as long as it keeps producing
tokens. Two limits (settings.py says why each default):

- time to first token: Ollama writes its response header with the first token (gin's
  `c.Stream`), so until then the client waits for headers — the prompt's evaluation (and any
  wait in the host's queue, which the template's one-invocation-per-slot rule keeps away);
- time without a new token, once the first came: a host that stops producing is found in
  seconds, while a slow one that keeps producing is never cut.

Both are httpx read timeouts (a read waits at most that long for the next bytes): the client is
made with the first-token limit, and a response hook (httpx runs it once the headers are in,
before the body is read) lowers the request's read timeout to the stall limit for the rest of
the stream. The client (with httpx and its pydantic types, ~0.07 s) is imported on the first
call, not at the cold start's import."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docsum.domain.errors import ContextOverflow, LLMError
from docsum.platform.lazy import on_first_use
from docsum.ports.llm import ChatAnswer, ChatCall

if TYPE_CHECKING:
    import httpx
    import ollama

    from docsum.platform.settings import Settings

_NS = 1e9


@dataclass(frozen=True)
class StreamLimits:
    """How long a model call may go without progress."""

    connect_seconds: float  # to connect and send the request (the prompt)
    first_token_seconds: float
    stall_seconds: float  # between tokens, once the first came

    @classmethod
    def of(cls, settings: Settings) -> StreamLimits:
        return cls(
            settings.llm_connect_timeout_seconds,
            settings.llm_first_token_timeout_seconds,
            settings.llm_stall_timeout_seconds,
        )


class OllamaLanguageModel:
    def __init__(self, host: str, model: str, keep_alive: str, limits: StreamLimits) -> None:
        self.name = model
        self.limits = limits
        self._client = on_first_use(lambda: _streaming_client(host, limits))
        self._keep_alive: str | float = float(keep_alive) if _is_number(keep_alive) else keep_alive

    @classmethod
    def of(cls, settings: Settings, host: str | None = None) -> OllamaLanguageModel:
        return cls(
            host or settings.ollama_host,
            settings.ollama_model,
            settings.ollama_keep_alive,
            StreamLimits.of(settings),
        )

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
        pieces: list[str] = []
        final: ollama.ChatResponse | None = None
        started = False  # a first token (and the header with it) has come
        try:
            for part in self._client.chat(
                model=self.name,
                messages=[
                    {"role": "system", "content": call.system},
                    {"role": "user", "content": call.user},
                ],
                options=options,
                keep_alive=self._keep_alive,
                stream=True,
            ):
                started = True
                pieces.append(part.message.content or "")
                if part.done:
                    final = part
        except ollama.ResponseError as exc:
            if started or exc.status_code < 0:  # an error inside the stream: the host failed
                raise LLMError("server_error", f"mid-answer: {exc.error}", transient=True) from exc
            raise _classify(exc, call) from exc
        except httpx.ConnectTimeout as exc:
            raise LLMError("unreachable", f"no connection: {exc}", transient=True) from exc
        except httpx.TimeoutException as exc:
            raise self._timeout(started) from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise LLMError("unreachable", str(exc) or type(exc).__name__, transient=True) from exc
        if final is None:
            raise LLMError("server_error", "the answer ended before its last part", transient=True)
        seconds = (final.total_duration or 0) / _NS
        return ChatAnswer(
            text="".join(pieces),
            model=final.model or self.name,
            prompt_tokens=final.prompt_eval_count or 0,
            completion_tokens=final.eval_count or 0,
            model_seconds=round(seconds, 3),
            done_reason=final.done_reason,
        )

    def _timeout(self, started: bool) -> LLMError:
        if started:
            return LLMError(
                "stalled", f"no new token for {self.limits.stall_seconds:g} s", transient=True
            )
        return LLMError(
            "timeout",
            f"no first token within {self.limits.first_token_seconds:g} s",
            transient=True,
        )


def probe_host(host: str, model: str, timeout_seconds: float = 2.0) -> None:
    """Raises unless an Ollama API answers at `host` and serves `model` (readiness: the
    worker's view)."""
    import ollama

    listed = ollama.Client(host=host, timeout=timeout_seconds).list().models
    served = {m.model or "" for m in listed}
    if model not in served:
        raise LookupError(f"{host} does not serve {model} (it serves {sorted(served)})")


def _streaming_client(host: str, limits: StreamLimits) -> ollama.Client:
    import httpx
    import ollama

    def after_headers(response: httpx.Response) -> None:
        # The header came with the first token: from now on a read waits for the next token
        # only. httpcore reads the request's timeouts when the body's first read starts, which
        # is after this hook.
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = limits.stall_seconds

    timeout = httpx.Timeout(
        connect=limits.connect_seconds,
        read=limits.first_token_seconds,
        write=limits.connect_seconds,
        pool=None,  # waiting for a pooled connection is waiting for our own other call
    )
    return ollama.Client(host=host, timeout=timeout, event_hooks={"response": [after_headers]})


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
    if status == 429 or (status == 503 and "busy" in exc.error.lower()):
        # Full, not down (Ollama's queue limit): a retry helps, the breaker stays closed.
        return LLMError("busy", f"{status} {exc.error}", transient=True)
    if status == 408 or status >= 500:
        return LLMError("server_error", f"{status} {exc.error}", transient=True)
    if "context" in exc.error.lower():
        # The offline host says "prompt is N tokens, which does not fit …"; keep N when given.
        counted = re.search(r"(\d+) tokens", exc.error)
        planned = int(counted.group(1)) + call.num_predict if counted else call.num_ctx
        return ContextOverflow(planned, call.num_ctx, exc.error)
    return LLMError("rejected", f"{status} {exc.error}", transient=False)
