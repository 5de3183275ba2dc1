"""The command line: options, environment variables, GGUF paths, the startup line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from offline_ollama import OfflineOllama

from infra.local.processes import free_port

from .conftest import OLLAMA_HOST_DIR, SMALLEST_MODEL, requires_smollm2

pytestmark = [pytest.mark.llm, requires_smollm2]


def smollm2_file() -> Path:
    from offline_ollama.models import resolve

    return resolve(SMALLEST_MODEL).path


def env_with_package() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(OLLAMA_HOST_DIR), env.get("PYTHONPATH")) if p
    )
    return env


def test_startup_line_names_the_model_and_disowns_gemma3_1b(host: OfflineOllama) -> None:
    first_line = host.log().splitlines()[0]
    assert SMALLEST_MODEL in first_line
    assert host.url in first_line
    assert "NOT gemma3:1b" in first_line


def test_environment_configuration_and_gguf_paths(tmp_path: Path) -> None:
    port = free_port()
    path = smollm2_file()
    env = env_with_package() | {
        "OFFLINE_OLLAMA_HOST": "127.0.0.1",
        "OFFLINE_OLLAMA_PORT": str(port),
        "OFFLINE_OLLAMA_MODEL": f"tiny:test={path},{path}",
        "OFFLINE_OLLAMA_SLOTS": "3",
        "OFFLINE_OLLAMA_MAX_QUEUE": "5",
    }
    log = (tmp_path / "host.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "offline_ollama"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/")
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "host.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        names = [m["name"] for m in httpx.get(url + "/api/tags").json()["models"]]
        assert names == ["tiny:test", "smollm2-135m-instruct.q4_1:latest"]
        status = httpx.get(url + "/offline-ollama/status").json()
        assert status["max_queue"] == 5
        assert status["models"]["tiny:test"]["slots"] == 3
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        log.close()


def test_refuses_to_present_a_stand_in_as_gemma3_1b() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline_ollama",
            "--port",
            str(free_port()),
            "--model",
            f"gemma3:1b={smollm2_file()}",
        ],
        env=env_with_package(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to serve it as gemma3:1b" in result.stderr


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("llama9:7b", "unknown model 'llama9:7b'"),
        ("gemma3:1b", "gemma3:1b is not in"),  # not fetched into this (empty) cache
    ],
)
def test_a_model_it_cannot_serve_is_a_clear_error(model: str, message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "offline_ollama", "--model", model],
        env={**env_with_package(), "OFFLINE_OLLAMA_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
