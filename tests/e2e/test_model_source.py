"""`make up` on a machine with no Ollama but a network: the stack fetches the real gemma3:1b
(here: a local registry mirror serving the bundled SmolLM2 file under that name and pin),
verifies it, serves it, and says where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from offline_ollama.models import resolve

from infra.local.processes import LOOPBACK, free_port
from tests.e2e.support import FAST_LLM, start_stack, stop_stack
from tests.ollama_host import registry_mirror

pytestmark = [pytest.mark.e2e, pytest.mark.llm]


def test_a_start_without_ollama_fetches_verifies_and_serves_gemma3_1b(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with registry_mirror.serving(resolve("smollm2:135m").path) as mirror:
        stack = start_stack(
            tmp_path / "stack",
            {
                **FAST_LLM,
                "OLLAMA_HOST": f"http://{LOOPBACK}:{free_port()}",
                "OFFLINE_OLLAMA_MODEL": "auto",
                "OFFLINE_OLLAMA_REGISTRY": mirror.url,
                "OFFLINE_OLLAMA_PIN": mirror.pin,
                "OFFLINE_OLLAMA_CACHE": str(cache),
            },
        )
        try:
            assert stack.info["ollama_model"] == "gemma3:1b"
            assert "verified" in stack.info["llm_origin"]
            assert "fetching gemma3:1b:" in stack.console()
            with stack.api() as api:
                ready = api.get("/ready").json()["checks"]["ollama"]
            assert ready.startswith("ok: gemma3:1b (offline host: the weights `ollama pull")
        finally:
            stop_stack(stack)
    assert (cache / "blobs" / mirror.digest.replace(":", "-")).is_file()
