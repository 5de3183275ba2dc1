"""The Ollama adapter over the official client: explicit options, error classification.
(The real protocol is exercised against the offline host in tests/llm and tests/e2e.)"""

import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from docsum.adapters.ollama import OllamaLanguageModel
from docsum.domain.errors import ContextOverflow, LLMError
from docsum.ports.llm import ChatCall

CALL = ChatCall(
    system="Summarize.",
    user="Some text.",
    num_ctx=2048,
    num_predict=128,
    temperature=0.1,
    seed=7,
    repeat_penalty=1.3,
    repeat_last_n=128,
)


def model_with(handler: Callable[[httpx.Request], httpx.Response]) -> OllamaLanguageModel:
    llm = OllamaLanguageModel("http://ollama.test:11434", "gemma3:1b", 5, "-1")
    llm._client._client = httpx.Client(
        base_url="http://ollama.test:11434", transport=httpx.MockTransport(handler)
    )
    return llm


def test_sends_every_option_and_reads_the_counts() -> None:
    seen: dict[str, Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.update(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "model": "gemma3:1b",
                "created_at": "2026-11-22T00:00:00Z",
                "done": True,
                "done_reason": "stop",
                "message": {"role": "assistant", "content": "Short."},
                "prompt_eval_count": 40,
                "eval_count": 3,
                "total_duration": 1_500_000_000,
            },
        )

    result = model_with(answer).chat(CALL)

    assert seen["options"] == {
        "num_ctx": 2048,
        "num_predict": 128,
        "temperature": 0.1,
        "seed": 7,
        "repeat_penalty": 1.3,
        "repeat_last_n": 128,
    }
    assert seen["keep_alive"] == -1
    assert seen["stream"] is False
    assert [m["role"] for m in seen["messages"]] == ["system", "user"]
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("Short.", 40, 3)
    assert result.model_seconds == 1.5


@pytest.mark.parametrize(
    ("status", "body", "kind", "transient"),
    [
        (503, {"error": "server busy, please try again"}, "server_error", True),
        (500, {"error": "llama runner crashed"}, "server_error", True),
        (
            404,
            {"error": 'model "gemma3:1b" not found, try pulling it first'},
            "model_missing",
            True,
        ),
        (400, {"error": "invalid options"}, "rejected", False),
    ],
)
def test_http_errors_are_classified(
    status: int, body: dict[str, str], kind: str, transient: bool
) -> None:
    llm = model_with(lambda _: httpx.Response(status, json=body))
    with pytest.raises(LLMError) as caught:
        llm.chat(CALL)
    assert (caught.value.kind, caught.value.transient) == (kind, transient)


def test_a_prompt_the_host_refuses_as_too_long_is_a_context_overflow() -> None:
    llm = model_with(
        lambda _: httpx.Response(
            400, json={"error": "prompt (3000 tokens) exceeds the context window num_ctx=2048"}
        )
    )
    with pytest.raises(ContextOverflow) as caught:
        llm.chat(CALL)
    assert caught.value.planned_tokens == 3000 + CALL.num_predict


def test_timeout_is_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(LLMError) as caught:
        model_with(slow).chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("timeout", True)


def test_unreachable_host_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = OllamaLanguageModel(f"http://127.0.0.1:{port}", "gemma3:1b", 2, "5m")
    with pytest.raises(LLMError) as caught:
        llm.chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("unreachable", True)
