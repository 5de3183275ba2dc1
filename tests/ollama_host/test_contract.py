"""Contract tests: the official ``ollama`` client (sync and async) against the offline host.

Assertions are on the protocol, the token counts and determinism -- never on wording: the
stand-in models are far too weak for that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import httpx
import ollama
import pytest

from .conftest import SMALLEST_MODEL

pytestmark = pytest.mark.llm

SYSTEM = "You summarise documents in one sentence."
DOCUMENT = (
    "The city council met on Tuesday to discuss the new bus routes. After a long debate the "
    "council approved two new lines connecting the northern suburbs with the central station."
)
STORY = "Write a long story about a dragon who learns to bake bread."
SUMMARIZE_OPTIONS: dict[str, Any] = {
    "num_ctx": 2048,
    "num_predict": 12,
    "temperature": 0,
    "seed": 7,
}


@cache
def smollm2_vocab() -> Any:
    """SmolLM2's tokenizer, loaded independently of the server.

    (Not ``vocab_only``: with cyllama 0.7.0 that aborts in llama-hparams.cpp.)
    """
    from cyllama.llama.llama_cpp import (
        LlamaModel,
        LlamaModelParams,
        disable_logging,
        ggml_backend_load_all,
    )
    from offline_ollama.models import resolve

    disable_logging()
    ggml_backend_load_all()
    model = LlamaModel(str(resolve(SMALLEST_MODEL).path), LlamaModelParams())
    return model, model.get_vocab()


def chatml_tokens(messages: list[dict[str, str]]) -> int:
    """Token count of SmolLM2's chat template, rendered here by hand."""
    if messages[0]["role"] != "system":
        default = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
        messages = [{"role": "system", "content": default}, *messages]
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    text += "<|im_start|>assistant\n"
    return len(smollm2_vocab()[1].tokenize(text, add_special=False, parse_special=True))


def summarize_messages(document: str = DOCUMENT) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Summarise:\n\n{document}"},
    ]


def assert_final_metrics(resp: ollama.ChatResponse | ollama.GenerateResponse) -> None:
    assert resp.done is True
    assert resp.done_reason in ("stop", "length")
    for field in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        value = getattr(resp, field)
        assert isinstance(value, int), field
        assert value > 0, field
    assert resp.prompt_eval_count is not None
    assert resp.prompt_eval_count > 0
    assert resp.eval_count is not None
    assert resp.eval_count >= 0
    assert resp.total_duration is not None
    parts = (resp.load_duration or 0) + (resp.prompt_eval_duration or 0) + (resp.eval_duration or 0)
    assert resp.total_duration >= parts


# -- plain endpoints -------------------------------------------------------------------------


def test_root_get_and_head(url: str) -> None:
    get = httpx.get(url + "/")
    assert get.status_code == 200
    assert get.text == "Ollama is running"
    head = httpx.head(url + "/")
    assert head.status_code == 200
    assert head.content == b""


def test_version(url: str) -> None:
    resp = httpx.get(url + "/api/version")
    assert resp.status_code == 200
    assert isinstance(resp.json()["version"], str)
    assert resp.json()["version"]


def test_unknown_path_and_method(url: str) -> None:
    assert httpx.get(url + "/api/nope").status_code == 404
    assert httpx.get(url + "/api/chat").status_code == 405


def test_list_shows_true_name_only(url: str) -> None:
    models = ollama.Client(host=url).list().models
    names = [m.model for m in models]
    assert names == [SMALLEST_MODEL]
    assert "gemma3:1b" not in names
    (model,) = models
    assert isinstance(model.modified_at, datetime)
    assert model.size is not None
    assert model.size > 50_000_000
    assert model.digest
    assert len(model.digest) == 64
    assert model.details is not None
    assert model.details.format == "gguf"
    assert model.details.family == "llama"
    assert model.details.quantization_level == "Q4_1"
    assert model.details.parameter_size == "134.52M"


def test_show_includes_model_info(url: str) -> None:
    show = ollama.Client(host=url).show(SMALLEST_MODEL)
    assert show.modelinfo is not None
    assert show.modelinfo["general.architecture"] == "llama"
    assert show.modelinfo["llama.context_length"] == 8192
    assert show.modelinfo["general.parameter_count"] == 134_515_008
    assert "tokenizer.chat_template" not in show.modelinfo
    assert show.capabilities == ["completion"]
    assert show.template
    assert "<|im_start|>" in show.template
    assert show.details is not None
    assert show.details.family == "llama"
    assert show.parameters
    assert "stop" in show.parameters
    assert show.modelfile
    assert show.modelfile.startswith('# Modelfile generated by "ollama show"')


def test_ps_lists_the_loaded_model(url: str) -> None:
    ollama.Client(host=url).chat(model=SMALLEST_MODEL, messages=[], keep_alive=-1)  # load
    ps = ollama.Client(host=url).ps()
    (model,) = ps.models
    assert model.model == SMALLEST_MODEL
    assert model.name == SMALLEST_MODEL
    assert model.expires_at is not None
    assert model.expires_at.year > 2200
    assert model.size is not None
    assert model.size > 0
    assert model.context_length is not None
    assert model.context_length > 0


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["chat", "chat-stream", "generate", "show"])
def test_unknown_model_is_404_in_ollamas_shape(url: str, call: str) -> None:
    client = ollama.Client(host=url)
    hi = [{"role": "user", "content": "hi"}]
    calls: dict[str, Callable[[], object]] = {
        "chat": lambda: client.chat(model="gemma3:1b", messages=hi),
        "chat-stream": lambda: list(client.chat(model="gemma3:1b", messages=hi, stream=True)),
        "generate": lambda: client.generate(model="gemma3:1b", prompt="hi"),
        "show": lambda: client.show("gemma3:1b"),
    }
    with pytest.raises(ollama.ResponseError) as info:
        calls[call]()
    assert info.value.status_code == 404
    assert info.value.error == "model 'gemma3:1b' not found"


def test_error_body_shape_is_ollamas(url: str) -> None:
    resp = httpx.post(url + "/api/chat", json={"model": "nope:1b", "messages": []})
    assert resp.status_code == 404
    assert resp.json() == {"error": "model 'nope:1b' not found"}
    assert resp.headers["content-type"].startswith("application/json")


def test_invalid_option_is_400(url: str) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=url).chat(
            model=SMALLEST_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            options={"num_predict": "many"},
        )
    assert info.value.status_code == 400
    assert "num_predict" in info.value.error


def test_prompt_longer_than_num_ctx_is_refused_not_truncated(url: str) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=url).chat(
            model=SMALLEST_MODEL,
            messages=summarize_messages(DOCUMENT * 4),
            options={"num_ctx": 64, "num_predict": 4},
        )
    assert info.value.status_code == 400
    expected = chatml_tokens(summarize_messages(DOCUMENT * 4))
    assert f"prompt is {expected} tokens" in info.value.error
    assert "num_ctx=64" in info.value.error


# -- chat: exactly what the summarize function does ------------------------------------------


def test_summarize_call_shape_and_true_prompt_count(url: str) -> None:
    messages = summarize_messages()
    resp = ollama.Client(host=url).chat(
        model=SMALLEST_MODEL, messages=messages, options=SUMMARIZE_OPTIONS, keep_alive="10m"
    )
    assert resp.model == SMALLEST_MODEL
    assert resp.message.role == "assistant"
    assert isinstance(resp.message.content, str)
    assert resp.message.content
    assert_final_metrics(resp)
    assert resp.prompt_eval_count == chatml_tokens(messages)
    assert resp.eval_count is not None
    assert 0 < resp.eval_count <= 12
    assert isinstance(resp.created_at, str)
    assert resp.created_at.endswith("Z")


def test_system_message_is_honoured(url: str) -> None:
    client = ollama.Client(host=url)
    user = [{"role": "user", "content": "Say hello."}]
    with_system = [{"role": "system", "content": "You are a pirate. Always talk like one."}, *user]
    opts = {"num_predict": 1, "temperature": 0}
    plain = client.chat(model=SMALLEST_MODEL, messages=user, options=opts)
    pirate = client.chat(model=SMALLEST_MODEL, messages=with_system, options=opts)
    assert plain.prompt_eval_count == chatml_tokens(user)
    assert pirate.prompt_eval_count == chatml_tokens(with_system)
    assert plain.prompt_eval_count != pirate.prompt_eval_count


def test_num_predict_caps_eval_count(url: str) -> None:
    resp = ollama.Client(host=url).chat(
        model=SMALLEST_MODEL,
        messages=[{"role": "user", "content": STORY}],
        options={"num_predict": 5, "temperature": 0},
    )
    assert resp.eval_count == 5
    assert resp.done_reason == "length"


def test_generation_stops_at_the_window(url: str) -> None:
    messages = [{"role": "user", "content": STORY}]
    n_prompt = chatml_tokens(messages)
    resp = ollama.Client(host=url).chat(
        model=SMALLEST_MODEL,
        messages=messages,
        options={"num_ctx": n_prompt + 3, "num_predict": 50, "temperature": 0},
    )
    assert resp.prompt_eval_count == n_prompt
    assert resp.eval_count == 3
    assert resp.done_reason == "length"


def test_seed_and_temperature_zero_are_repeatable(url: str) -> None:
    client = ollama.Client(host=url)
    messages = [{"role": "user", "content": STORY}]
    greedy = [
        client.chat(
            model=SMALLEST_MODEL,
            messages=messages,
            options={"num_predict": 10, "temperature": 0, "seed": 1},
        )
        for _ in range(2)
    ]
    assert greedy[0].message.content == greedy[1].message.content
    assert greedy[0].eval_count == greedy[1].eval_count
    sampled = [
        client.chat(
            model=SMALLEST_MODEL,
            messages=messages,
            options={"num_predict": 10, "temperature": 1.0, "seed": 1234},
        )
        for _ in range(2)
    ]
    assert sampled[0].message.content == sampled[1].message.content


def test_top_k_one_is_greedy(url: str) -> None:
    client = ollama.Client(host=url)
    messages = [{"role": "user", "content": STORY}]
    greedy = client.chat(
        model=SMALLEST_MODEL, messages=messages, options={"num_predict": 10, "temperature": 0}
    )
    for option in ({"top_k": 1}, {"top_p": 1e-6}):
        hot = client.chat(
            model=SMALLEST_MODEL,
            messages=messages,
            options={"num_predict": 10, "temperature": 1.5, "seed": 99, **option},
        )
        assert hot.message.content == greedy.message.content, option


def test_stop_sequence_cuts_the_output(url: str) -> None:
    client = ollama.Client(host=url)
    messages = [{"role": "user", "content": STORY}]
    opts: dict[str, Any] = {"num_predict": 16, "temperature": 0}
    full = client.chat(model=SMALLEST_MODEL, messages=messages, options=opts).message.content
    assert full
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]
    cut = client.chat(model=SMALLEST_MODEL, messages=messages, options={**opts, "stop": [stop]})
    assert cut.done_reason == "stop"
    assert cut.message.content == full[: full.index(stop)]
    assert stop not in (cut.message.content or "")


def test_streaming_chat_matches_non_streaming(url: str) -> None:
    client = ollama.Client(host=url)
    messages = summarize_messages()
    whole = client.chat(model=SMALLEST_MODEL, messages=messages, options=SUMMARIZE_OPTIONS)
    chunks = list(
        client.chat(model=SMALLEST_MODEL, messages=messages, options=SUMMARIZE_OPTIONS, stream=True)
    )
    assert len(chunks) >= 2
    *parts, last = chunks
    assert all(c.done is False and c.done_reason is None for c in parts)
    assert all(c.message.role == "assistant" for c in chunks)
    assert_final_metrics(last)
    assert last.message.content == ""
    assert "".join(c.message.content or "" for c in parts) == whole.message.content
    assert last.eval_count == whole.eval_count
    assert last.prompt_eval_count == whole.prompt_eval_count


def test_load_and_unload_via_keep_alive(url: str) -> None:
    client = ollama.Client(host=url)
    unloaded = client.chat(model=SMALLEST_MODEL, messages=[], keep_alive=0)
    assert unloaded.done is True
    assert unloaded.done_reason == "unload"
    assert [m.model for m in client.ps().models] == []
    loaded = client.chat(model=SMALLEST_MODEL, messages=[], keep_alive=-1)
    assert loaded.done_reason == "load"
    assert [m.model for m in client.ps().models] == [SMALLEST_MODEL]
    gen = client.generate(model=SMALLEST_MODEL, prompt="", keep_alive="1h")
    assert gen.done_reason == "load"


# -- generate --------------------------------------------------------------------------------


def test_generate_non_streaming_and_streaming(url: str) -> None:
    client = ollama.Client(host=url)
    opts = {"num_predict": 6, "temperature": 0}
    whole = client.generate(model=SMALLEST_MODEL, prompt=STORY, system=SYSTEM, options=opts)
    assert_final_metrics(whole)
    assert whole.prompt_eval_count == chatml_tokens(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": STORY}]
    )
    assert whole.eval_count == 6
    assert whole.done_reason == "length"
    assert whole.context is not None
    assert len(whole.context) == whole.prompt_eval_count + whole.eval_count
    chunks = list(
        client.generate(
            model=SMALLEST_MODEL, prompt=STORY, system=SYSTEM, options=opts, stream=True
        )
    )
    assert chunks[-1].done is True
    assert all(c.done is False for c in chunks[:-1])
    assert "".join(c.response or "" for c in chunks) == whole.response


def test_generate_raw_counts_exactly_the_prompt(url: str) -> None:
    prompt = "Once upon a time"
    resp = ollama.Client(host=url).generate(
        model=SMALLEST_MODEL, prompt=prompt, raw=True, options={"num_predict": 3, "temperature": 0}
    )
    expected = len(smollm2_vocab()[1].tokenize(prompt, add_special=False, parse_special=True))
    assert resp.prompt_eval_count == expected
    assert resp.eval_count == 3


# -- concurrency -----------------------------------------------------------------------------


def test_concurrent_sync_requests_are_all_answered(url: str) -> None:
    def one(i: int) -> ollama.ChatResponse:
        return ollama.Client(host=url).chat(
            model=SMALLEST_MODEL,
            messages=[{"role": "user", "content": f"Count to {i + 3}."}],
            options={"num_predict": 4, "temperature": 0},
        )

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert len(results) == 4
    for resp in results:
        assert resp.done is True
        assert resp.eval_count is not None
        assert 0 < resp.eval_count <= 4


def test_async_client(url: str) -> None:
    async def scenario() -> None:
        client = ollama.AsyncClient(host=url)
        listed = await client.list()
        assert [m.model for m in listed.models] == [SMALLEST_MODEL]
        show = await client.show(SMALLEST_MODEL)
        assert show.modelinfo is not None
        assert show.modelinfo["general.architecture"] == "llama"
        assert (await client.ps()).models

        async def ask(i: int) -> ollama.ChatResponse:
            return await client.chat(
                model=SMALLEST_MODEL,
                messages=summarize_messages(f"Item {i}. " + DOCUMENT),
                options={"num_predict": 4, "temperature": 0, "seed": i},
            )

        results = await asyncio.gather(*(ask(i) for i in range(4)))
        for resp in results:
            assert_final_metrics(resp)
            assert resp.eval_count is not None
            assert resp.eval_count <= 4

        stream = await client.chat(
            model=SMALLEST_MODEL,
            messages=summarize_messages(),
            options=SUMMARIZE_OPTIONS,
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].done is True
        assert_final_metrics(chunks[-1])

        with pytest.raises(ollama.ResponseError) as info:
            await client.chat(model="gemma3:1b", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 404

    asyncio.run(scenario())
