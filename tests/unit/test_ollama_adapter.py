"""The Ollama adapter over the official client: explicit options, error classification, and
time judged by progress — against a real local HTTP server (the fault proxy's made-up answers)
that is slow to its first token, slow per token, or stops mid-answer.
(The real protocol is exercised against the offline host in tests/llm and tests/e2e.)"""

import dataclasses
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from docsum.adapters.ollama import OllamaLanguageModel, StreamLimits
from docsum.domain.errors import HOST_DOWN_KINDS, ContextOverflow, LLMError
from docsum.ports.llm import ChatCall

from tests.faults.llm_proxy import FaultProxy

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


LIMITS = StreamLimits(connect_seconds=5, first_token_seconds=5, stall_seconds=5)


def model_with(handler: Callable[[httpx.Request], httpx.Response]) -> OllamaLanguageModel:
    llm = OllamaLanguageModel("http://ollama.test:11434", "gemma3:1b", "-1", LIMITS)
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
    assert seen["stream"] is True
    assert [m["role"] for m in seen["messages"]] == ["system", "user"]
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("Short.", 40, 3)
    assert result.model_seconds == 1.5


@pytest.mark.parametrize(
    ("status", "body", "kind", "transient"),
    [
        (503, {"error": "server busy, please try again"}, "busy", True),
        (429, {"error": "too many requests"}, "busy", True),
        (503, {"error": "server shutting down"}, "server_error", True),
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


def test_timeout_before_any_answer_is_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(LLMError) as caught:
        model_with(slow).chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("timeout", True)


def test_unreachable_host_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = OllamaLanguageModel(f"http://127.0.0.1:{port}", "gemma3:1b", "5m", LIMITS)
    with pytest.raises(LLMError) as caught:
        llm.chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("unreachable", True)


# ------------------------------------------------------- progress, on a real streaming server

ANSWER = "one two three four five six seven eight"


@pytest.fixture
def server() -> Iterator[FaultProxy]:
    """A real HTTP server speaking Ollama's streamed chat (made-up answers; no upstream)."""
    with FaultProxy("http://127.0.0.1:9", stall_seconds=30) as proxy:
        yield proxy


def streaming(server: FaultProxy, first_token: float, stall: float) -> OllamaLanguageModel:
    return OllamaLanguageModel(server.url, "gemma3:1b", "-1", StreamLimits(2, first_token, stall))


def test_a_slow_first_token_is_waited_for_beyond_the_stall_limit(server: FaultProxy) -> None:
    """The prompt's evaluation (no header, no token yet) has its own, longer limit."""
    with server.answering(ANSWER, seconds=1.5):
        answer = streaming(server, first_token=10, stall=0.5).chat(CALL)
    assert answer.text == ANSWER


def test_a_call_that_keeps_producing_is_never_cut(server: FaultProxy) -> None:
    """Eight tokens 0.4 s apart: the whole answer takes longer than either limit, yet every
    token comes within the stall limit, so the call runs to its end."""
    with server.answering(ANSWER, seconds=0.2, token_seconds=0.4):
        answer = streaming(server, first_token=1.0, stall=1.0).chat(CALL)
    assert answer.text == ANSWER
    assert answer.completion_tokens == len(ANSWER) // 4


def test_no_first_token_in_time_is_a_timeout_not_a_host_down(server: FaultProxy) -> None:
    with server.answering(ANSWER, seconds=3), pytest.raises(LLMError) as caught:
        streaming(server, first_token=0.5, stall=10).chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("timeout", True)
    assert "no first token within 0.5 s" in str(caught.value)
    assert caught.value.kind not in HOST_DOWN_KINDS  # maybe busy: the breaker stays closed


def test_a_host_that_stops_mid_answer_is_found_at_the_stall_limit(server: FaultProxy) -> None:
    """Two tokens, then nothing (the server holds for 30 s): found after the stall limit,
    although the first-token limit is far longer."""
    marked = dataclasses.replace(CALL, user="[faults:midstall] Some text.")
    with server.answering(ANSWER), pytest.raises(LLMError) as caught:
        streaming(server, first_token=60, stall=0.5).chat(marked)
    assert (caught.value.kind, caught.value.transient) == ("stalled", True)
    assert caught.value.reason == "model host stopped producing its answer"
    assert caught.value.kind in HOST_DOWN_KINDS


def test_an_error_inside_the_stream_is_the_hosts_not_the_documents(server: FaultProxy) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        lines = [
            {"model": "gemma3:1b", "message": {"role": "assistant", "content": "Par"}},
            {"error": "server shutting down"},
        ]
        return httpx.Response(200, content=b"".join(json.dumps(x).encode() + b"\n" for x in lines))

    with pytest.raises(LLMError) as caught:
        model_with(answer).chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("server_error", True)


def test_a_stream_cut_before_its_last_part_is_transient() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        part = {"model": "gemma3:1b", "message": {"role": "assistant", "content": "Par"}}
        return httpx.Response(200, content=json.dumps(part).encode() + b"\n")

    with pytest.raises(LLMError) as caught:
        model_with(answer).chat(CALL)
    assert (caught.value.kind, caught.value.transient) == ("server_error", True)
