"""The production image: Dockerfile facts, and the entrypoint run for real against a fake
``ollama`` CLI backed by the offline host (no Docker engine here)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra.local.processes import free_port

from .conftest import OLLAMA_HOST_DIR, SMALLEST_MODEL, requires_smollm2

DOCKERFILE = OLLAMA_HOST_DIR / "Dockerfile"
ENTRYPOINT = OLLAMA_HOST_DIR / "entrypoint.sh"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instruction(name: str) -> list[str]:
    return [args for word, args in dockerfile_instructions() if word == name]


def healthcheck_command() -> str:
    (args,) = instruction("HEALTHCHECK")
    return args.split(" CMD ", 1)[1].strip()


def test_base_image_is_the_official_one_and_pinned() -> None:
    (base,) = instruction("FROM")
    assert base == "ollama/ollama:${OLLAMA_VERSION}"
    version = next(a for a in instruction("ARG") if a.startswith("OLLAMA_VERSION="))
    assert re.fullmatch(r"OLLAMA_VERSION=\d+\.\d+\.\d+", version), version


def test_model_is_baked_at_build_time() -> None:
    assert "OLLAMA_MODEL=gemma3:1b" in instruction("ARG")
    bake = " ".join(instruction("RUN"))
    assert "ollama serve" in bake
    assert "until ollama list" in bake  # waits on the server, not a fixed sleep
    assert 'ollama pull "$OLLAMA_MODEL"' in bake
    assert 'kill "$pid"' in bake
    assert "id_ed25519" in bake  # the generated identity key does not ship


def test_runtime_settings() -> None:
    env = " ".join(instruction("ENV"))
    for setting in (
        "OLLAMA_KEEP_ALIVE=-1",
        "OLLAMA_NUM_PARALLEL=",
        "OLLAMA_MAX_QUEUE=",
        "OLLAMA_MODELS=/opt/ollama/models",
        "OLLAMA_HOST=0.0.0.0:11434",
    ):
        assert setting in env, setting
    assert instruction("EXPOSE") == ["11434"]
    health = healthcheck_command()
    assert health.startswith("ollama list")
    commands = " ".join(args for _, args in dockerfile_instructions())
    assert "curl" not in commands  # the official image has neither
    assert "wget" not in commands
    (entry,) = instruction("ENTRYPOINT")
    assert entry == '["/usr/local/bin/ollama-entrypoint.sh"]'
    assert any(
        a.startswith("entrypoint.sh /usr/local/bin/ollama-entrypoint.sh")
        for a in instruction("COPY")
    )


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_entrypoint_passes_shellcheck() -> None:
    result = subprocess.run(
        ["shellcheck", str(ENTRYPOINT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


FAKE_OLLAMA = """#!/usr/bin/env bash
# A stand-in for the `ollama` CLI: `serve` runs the offline host, `list` prints like ollama.
case "$1" in
    serve) exec "$PYTHON" -m offline_ollama --host 127.0.0.1 --port "${OLLAMA_HOST##*:}" \\
               --model "$OLLAMA_MODEL" --quiet ;;
    list) exec "$PYTHON" -c '
import os, ollama
models = ollama.Client(host="http://" + os.environ["OLLAMA_HOST"]).list().models
print(f"{\"NAME\":<24}{\"ID\":<16}SIZE")
for m in models:
    print(f"{m.model:<24}{m.digest[:12]:<16}{m.size}")
' ;;
    *) echo "fake ollama: unsupported: $*" >&2; exit 2 ;;
esac
"""


@pytest.mark.llm
@requires_smollm2
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_entrypoint_serves_warms_reports_healthy_and_stops_cleanly(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ollama"
    fake.write_text(FAKE_OLLAMA)
    fake.chmod(0o755)
    port = free_port()
    ready = tmp_path / "ready"
    env = dict(os.environ) | {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(OLLAMA_HOST_DIR), os.environ.get("PYTHONPATH")) if p
        ),
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODEL": SMALLEST_MODEL,
        "OLLAMA_READY_FILE": str(ready),
    }
    stderr = tmp_path / "entrypoint.err"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            ["bash", str(ENTRYPOINT)], env=env, stdout=err, stderr=err, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert proc.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.1)
        assert f"{SMALLEST_MODEL} loaded in" in stderr.read_text()
        ps = httpx.get(f"http://127.0.0.1:{port}/api/ps").json()
        assert [m["model"] for m in ps["models"]] == [SMALLEST_MODEL]

        def healthy() -> int:
            return subprocess.run(
                ["sh", "-c", healthcheck_command()], env=env, capture_output=True, check=False
            ).returncode

        assert healthy() == 0
        ready.rename(tmp_path / "not-ready")
        assert healthy() != 0
        (tmp_path / "not-ready").rename(ready)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, stderr.read_text()
        assert not ready.exists()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/")
    finally:
        if proc.poll() is None:  # a failed test must not leave the server behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
