"""What `make up` serves: the real gemma3:1b wherever the machine allows it (infra/local/llm.py).

A fake Ollama that streams pull progress, and a local registry mirror, stand in for the network."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from offline_ollama.fetch import FetchError

from infra.local.llm import STAND_IN, offline_model, running_ollama
from tests.ollama_host import registry_mirror


class FakeOllama:
    """/api/tags and a streaming /api/pull, like Ollama's."""

    def __init__(self, models: list[str]) -> None:
        self.models = list(models)
        self.pulled: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = json.dumps({"models": [{"name": m, "model": m} for m in fake.models]})
                self._reply(body.encode(), "application/json")

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.pulled.append(request["model"])
                lines = [{"status": "pulling manifest"}]
                lines += [
                    {
                        "status": "pulling 7cd4",
                        "digest": "sha256:7cd4",
                        "total": 1000,
                        "completed": c,
                    }
                    for c in (0, 400, 1000)
                ]
                lines += [{"status": "verifying sha256 digest"}, {"status": "success"}]
                fake.models.append(request["model"])
                self._reply(
                    "".join(json.dumps(line) + "\n" for line in lines).encode(),
                    "application/x-ndjson",
                )

            def _reply(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    fake = FakeOllama(models=["llama3.2:1b"])
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _ollama_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_MODEL", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing answers there


def at(fake: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake.url)


def test_a_running_ollama_without_the_model_pulls_it_with_progress(
    fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at(fake_ollama, monkeypatch)
    said: list[str] = []
    source = running_ollama("gemma3:1b", said.append, pull=True)
    assert source is not None
    assert fake_ollama.pulled == ["gemma3:1b"]
    assert (source.host, source.model, source.started_here) == (fake_ollama.url, "gemma3:1b", False)
    assert "pulled just now" in source.origin
    progress = capsys.readouterr().err
    assert "pulling gemma3:1b:" in progress
    assert "100.0%" in progress
    assert "MB/s" in progress


def test_no_pull_keeps_the_warning(
    fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(fake_ollama, monkeypatch)
    said: list[str] = []
    source = running_ollama("gemma3:1b", said.append, pull=False)
    assert fake_ollama.pulled == []
    assert "run `ollama pull gemma3:1b`" in said[-1]
    assert source is not None
    assert source.host == fake_ollama.url


def test_a_model_it_has_is_used_as_it_is(
    fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(fake_ollama, monkeypatch)
    monkeypatch.setenv("OLLAMA_MODEL", "llama3.2:1b")
    source = running_ollama("gemma3:1b", print, pull=True)
    assert source is not None
    assert fake_ollama.pulled == []
    assert source.origin == f"your Ollama at {fake_ollama.url}"


def test_no_ollama_at_all_is_none() -> None:
    assert running_ollama("gemma3:1b", print) is None


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFLINE_OLLAMA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_no_ollama_fetches_the_real_weights_once_then_uses_the_cache(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = tmp_path / "weights.gguf"
    blob.write_bytes(b"GGUF" + bytes(range(256)) * 4096)
    with registry_mirror.serving(blob) as mirror:
        monkeypatch.setenv("OFFLINE_OLLAMA_REGISTRY", mirror.url)
        monkeypatch.setenv("OFFLINE_OLLAMA_PIN", mirror.pin)
        first = offline_model("auto", fetch_real=True, say=print)
        assert len([r for r in mirror.requests if "/blobs/" in r[0]]) == 1
    assert first.model == "gemma3:1b"
    assert "verified" in first.origin
    # The mirror is gone: the second start uses the cache without the network.
    again = offline_model("auto", fetch_real=True, say=print)
    assert again.model == "gemma3:1b"


def test_no_network_serves_the_stand_in_and_says_how_to_get_the_real_model(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFLINE_OLLAMA_REGISTRY", "http://127.0.0.1:9")
    said: list[str] = []
    source = offline_model("auto", fetch_real=True, say=said.append)
    assert source.model == STAND_IN
    [line] = said
    assert "stand-in smollm2:135m, not gemma3:1b: no network" in line
    assert "run `make model`" in line


def test_asking_for_gemma3_1b_without_a_way_to_get_it_is_an_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFLINE_OLLAMA_REGISTRY", "http://127.0.0.1:9")
    with pytest.raises(FetchError, match="gemma3:1b is not available: no network"):
        offline_model("gemma3:1b", fetch_real=True, say=print)


def test_an_explicit_stand_in_is_served_without_any_fetch(cache: Path) -> None:
    source = offline_model("gemma3:270m", fetch_real=True, say=print)
    assert source.model == "gemma3:270m"
    assert not cache.exists()
