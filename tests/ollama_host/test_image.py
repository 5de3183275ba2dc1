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
HEALTHCHECK = OLLAMA_HOST_DIR / "ollama-healthcheck.sh"


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


def test_base_image_is_the_official_one_pinned_by_version_and_digest() -> None:
    (base,) = instruction("FROM")
    assert base == "ollama/ollama:${OLLAMA_VERSION}@${OLLAMA_DIGEST}"
    version = next(a for a in instruction("ARG") if a.startswith("OLLAMA_VERSION="))
    assert re.fullmatch(r"OLLAMA_VERSION=\d+\.\d+\.\d+", version), version
    digest = next(a for a in instruction("ARG") if a.startswith("OLLAMA_DIGEST="))
    assert re.fullmatch(r"OLLAMA_DIGEST=sha256:[0-9a-f]{64}", digest), digest


def test_server_runs_as_an_unprivileged_user() -> None:
    users = instruction("USER")
    assert users[-1] == "10001:10001"  # what the container runs as
    runs = [word for word, _ in dockerfile_instructions() if word in ("RUN", "USER")]
    bake = next(i for i, (w, a) in enumerate(dockerfile_instructions()) if "ollama pull" in a)
    before_bake = [a for w, a in dockerfile_instructions()[:bake] if w == "USER"]
    assert before_bake[-1] == "10001:10001"  # the model store is the user's own, no chown
    assert runs
    steps = " ".join(instruction("RUN"))
    assert "chmod -R" not in steps
    assert "chown -R" not in steps
    assert "useradd --system --uid 10001" in steps
    # The build's throwaway server wrote its identity key into that home: it does not ship.
    assert '"$HOME"/.ollama/id_ed25519' in steps
    env = " ".join(instruction("ENV"))
    assert "HOME=/home/ollama" in env
    assert "OLLAMA_NOPRUNE=1" in env  # never writes to the baked model store


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
    assert healthcheck_command() == '["/usr/local/bin/ollama-healthcheck.sh"]'
    assert "ollama-healthcheck.sh /usr/local/bin/ollama-healthcheck.sh" in instruction("COPY")
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
@pytest.mark.parametrize("script", [ENTRYPOINT, HEALTHCHECK])
def test_scripts_pass_shellcheck(script: Path) -> None:
    result = subprocess.run(
        ["shellcheck", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


FAKE_OLLAMA = """#!/usr/bin/env bash
# A stand-in for the `ollama` CLI: `serve` runs the offline host, `list` prints like ollama.
case "$1" in
    serve) exec "$PYTHON" -m offline_ollama --host 127.0.0.1 --port "${OLLAMA_HOST##*:}" \\
               --model "$OLLAMA_MODEL" --quiet ;;
    list|ps) exec "$PYTHON" -c '
import os, sys, ollama
client = ollama.Client(host="http://" + os.environ["OLLAMA_HOST"])
models = client.list().models if sys.argv[1] == "list" else client.ps().models
print(f"{\"NAME\":<24}{\"ID\":<16}SIZE")
for m in models:
    print(f"{m.model:<24}{m.digest[:12]:<16}{m.size}")
' "$1" ;;
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
        assert f"{SMALLEST_MODEL} loaded and generated a token in" in stderr.read_text()
        ps = httpx.get(f"http://127.0.0.1:{port}/api/ps").json()
        assert [m["model"] for m in ps["models"]] == [SMALLEST_MODEL]

        def healthy() -> int:  # the image's HEALTHCHECK: a real one-token generation
            return subprocess.run(
                ["bash", str(HEALTHCHECK)], env=env, capture_output=True, check=False
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


# ----------------------------------------------------------------- the health check alone


class _StubOllama:
    """An Ollama API that fails generations (a backend that crashes on its first token) or
    never answers them (every slot busy); `ollama ps` lists the model all the while."""

    def __init__(self, generate: str) -> None:
        import http.server
        import threading

        behaviour = generate

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                if behaviour == "hang":
                    time.sleep(5)
                    return
                body = (
                    b'{"error":"llama runner process has terminated: signal: segmentation fault"}'
                )
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _health_env(tmp_path: Path, port: int) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "ollama"  # `ollama ps`: the model is loaded
    fake.write_text('#!/bin/sh\necho "NAME ID SIZE"\necho "gemma3:1b   abc   1 GB"\n')
    fake.chmod(0o755)
    (tmp_path / "ready").touch()
    return dict(os.environ) | {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODEL": "gemma3:1b",
        "OLLAMA_READY_FILE": str(tmp_path / "ready"),
        "OLLAMA_HEALTH_TIMEOUT": "1",
        "OLLAMA_WARMUP_TIMEOUT": "1",
    }


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(HEALTHCHECK), *args], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_a_host_whose_generations_crash_is_unhealthy_though_its_model_is_loaded(
    tmp_path: Path,
) -> None:
    stub = _StubOllama(generate="crash")
    try:
        env = _health_env(tmp_path, stub.port)
        (tmp_path / "ready.answered").touch()  # even right after a good answer
        result = _check(env)
        assert result.returncode == 1
        assert "segmentation fault" in result.stderr
        assert _check(env, "--warm-up").returncode == 1  # never marked ready either
    finally:
        stub.close()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_a_busy_host_stays_healthy_only_while_it_answered_recently(tmp_path: Path) -> None:
    stub = _StubOllama(generate="hang")
    try:
        env = _health_env(tmp_path, stub.port)
        result = _check(env)  # no token ever answered: a hung server, not a busy one
        assert result.returncode == 1, result.stderr
        (tmp_path / "ready.answered").touch()
        result = _check(env)
        assert result.returncode == 0, result.stderr
        assert "busy" in result.stderr
        old = time.time() - 3600
        os.utime(tmp_path / "ready.answered", (old, old))
        assert _check(env | {"OLLAMA_HEALTH_BUSY_SECONDS": "900"}).returncode == 1
        (tmp_path / "ready").unlink()  # not warmed up: unhealthy whatever it answers
        (tmp_path / "ready.answered").touch()
        assert _check(env).returncode == 1
    finally:
        stub.close()
