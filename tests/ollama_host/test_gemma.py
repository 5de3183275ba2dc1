"""Gemma 3 270M (base) served as ``gemma3:270m``, with Ollama's gemma3 chat template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ollama
import pytest
from offline_ollama import OfflineOllama, start_in_subprocess

from .conftest import requires_gemma

pytestmark = [pytest.mark.llm, requires_gemma]

GEMMA = "gemma3:270m"


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineOllama]:
    log = tmp_path_factory.mktemp("gemma") / "host.log"
    handle = start_in_subprocess(model=GEMMA, slots=1, log_path=log)
    try:
        yield handle
    finally:
        assert handle.stop() == 0


def gemma_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Ollama's gemma3 template rendered by hand, tokenised with Gemma's own tokenizer."""
    from cyllama.llama.llama_cpp import (
        LlamaModel,
        LlamaModelParams,
        disable_logging,
        ggml_backend_load_all,
    )
    from offline_ollama.models import resolve

    text = ""
    for i, msg in enumerate(messages):
        text += f"<start_of_turn>user\n{msg['content']}<end_of_turn>\n"  # system is a user turn
        if i == len(messages) - 1:
            text += "<start_of_turn>model\n"
    disable_logging()
    ggml_backend_load_all()
    model = LlamaModel(str(resolve(GEMMA).path), LlamaModelParams())
    tokens = model.get_vocab().tokenize(text, add_special=True, parse_special=True)
    model.close()
    return len(tokens)


def test_gemma_is_served_under_its_true_name(gemma: OfflineOllama) -> None:
    client = ollama.Client(host=gemma.url)
    (model,) = client.list().models
    assert model.model == GEMMA
    assert model.details is not None
    assert model.details.family == "gemma3"
    assert model.details.parameter_size == "268.10M"
    assert model.details.quantization_level == "Q4_K_M"
    show = client.show(GEMMA)
    assert show.modelinfo is not None
    assert show.modelinfo["gemma3.context_length"] == 32768
    assert show.template
    assert "<start_of_turn>" in show.template
    assert show.parameters
    assert "<end_of_turn>" in show.parameters
    with pytest.raises(ollama.ResponseError) as info:
        client.show("gemma3:1b")
    assert info.value.status_code == 404


def test_gemma_chat_counts_and_caps(gemma: OfflineOllama) -> None:
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "What colour is the sky on a clear day?"},
    ]
    resp = ollama.Client(host=gemma.url).chat(
        model=GEMMA, messages=messages, options={"num_predict": 4, "temperature": 0, "seed": 1}
    )
    assert resp.done is True
    assert resp.prompt_eval_count == gemma_prompt_tokens(messages)
    assert resp.eval_count is not None
    assert 0 < resp.eval_count <= 4
    assert resp.done_reason in ("stop", "length")
    assert resp.eval_duration is not None
    assert resp.eval_duration > 0


def test_gemma_assembled_file_lives_outside_the_repo() -> None:
    from offline_ollama.models import resolve

    path = resolve(GEMMA).path
    repo = Path(__file__).resolve().parents[2]
    assert path.is_file()
    assert repo not in path.parents
