"""Pure-Python pieces: keep-alive parsing, option merging, stop-sequence holding, names."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("cyllama")

from offline_ollama.engine import Options, _held_suffix
from offline_ollama.models import ModelNotAvailable, normalize_name, resolve
from offline_ollama.scheduler import FOREVER, HTTPError, human_params, parse_keep_alive


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 300.0),
        ("", 300.0),
        (0, 0.0),
        (30, 30.0),
        ("30", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        (-1, FOREVER),
        ("-1", FOREVER),
        ("-5m", FOREVER),
    ],
)
def test_parse_keep_alive(value: object, seconds: float) -> None:
    assert parse_keep_alive(value, 300.0) == seconds


@pytest.mark.parametrize("value", ["soon", "5 minutes", True])
def test_parse_keep_alive_rejects_garbage(value: object) -> None:
    with pytest.raises(HTTPError) as info:
        parse_keep_alive(value, 300.0)
    assert info.value.status == 400


def test_options_layering_and_types() -> None:
    opts = Options.build(
        {"num_ctx": 2048},
        {"stop": ["<end>"], "temperature": 1.0},
        {"temperature": 0, "num_predict": 12.0, "stop": "x", "mirostat": 2},
    )
    assert opts.num_ctx == 2048
    assert opts.temperature == 0.0
    assert opts.num_predict == 12
    assert opts.stop == ["x"]
    with pytest.raises(ValueError, match="num_predict"):
        Options.build({"num_predict": 1.5})
    with pytest.raises(ValueError, match="seed"):
        Options.build({"seed": True})


def test_held_suffix() -> None:
    assert _held_suffix("hello wor", ["world"]) == 3
    assert _held_suffix("hello", ["world"]) == 0
    assert _held_suffix("abc<", ["<end_of_turn>", "<x"]) == 1
    assert _held_suffix("anything", []) == 0


def test_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_name("SmolLM2:135M") == "smollm2:135m"
    assert normalize_name("gemma3") == "gemma3:latest"
    with pytest.raises(ModelNotAvailable, match="unknown model"):
        resolve("llama9:7b")
    monkeypatch.setenv("OFFLINE_OLLAMA_CACHE", str(tmp_path))  # nothing fetched here
    with pytest.raises(ModelNotAvailable, match=r"gemma3:1b is not in .*make model"):
        resolve("gemma3:1b")
    with pytest.raises(ModelNotAvailable, match="not found"):
        resolve("/nonexistent/model.gguf")


def test_human_params_matches_ollama() -> None:
    assert human_params(999_885_952) == "999.89M"
    assert human_params(134_515_008) == "134.52M"
    assert human_params(3_212_749_888) == "3.2B"
