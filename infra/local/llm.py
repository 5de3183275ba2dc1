"""The stack's LLM step: use an Ollama that already answers, or run the offline host.

Kept apart from the stack so the choice of where a model comes from stays one small step."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from infra.local.processes import LOOPBACK, REPO_ROOT, free_port, http_get
from infra.local.supervisor import Part

OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_OFFLINE_MODEL = "smollm2:135m"
# The host loads its model first; other engineers' work shares the cores.
OFFLINE_READY_TIMEOUT = 300.0


@dataclass(frozen=True)
class Llm:
    host: str
    model: str
    started_here: bool


def normalize_ollama_host(value: str) -> str:
    """``OLLAMA_HOST`` as the ollama client reads it (``host``, ``host:port``, URL) -> URL."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    host = parts.hostname or LOOPBACK
    host = LOOPBACK if host == "0.0.0.0" else host  # a bind address, not one to connect to
    return f"{parts.scheme}://{host}:{parts.port or 11434}"


def served_models(host: str) -> list[str]:
    body = http_get(f"{host}/api/tags")
    if body is None:
        return []
    return [str(m.get("name") or m.get("model")) for m in json.loads(body).get("models", [])]


def running_ollama(default_model: str, say: Callable[[str], None]) -> Llm | None:
    """The Ollama answering at ``OLLAMA_HOST`` (default 127.0.0.1:11434), if one does."""
    host = normalize_ollama_host(os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST)
    if http_get(f"{host}/api/version") is None:
        return None
    model = os.environ.get("OLLAMA_MODEL") or default_model
    say(f"LLM: an Ollama answers at {host}; using it with model {model}")
    if model not in served_models(host):
        say(f"LLM: WARNING: {host} does not list {model}; run `ollama pull {model}`")
    return Llm(host, model, started_here=False)


def offline_host_part(model: str, slots: int) -> Part:
    """The offline Ollama-compatible host (``ollama-host/``) on a free port, serving
    ``model`` with ``slots`` generation slots and the model kept loaded."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    cmd = [sys.executable, "-m", "offline_ollama", "--host", LOOPBACK, "--port", str(port)]
    cmd += ["--model", model, "--slots", str(slots), "--keep-alive", "-1"]
    return Part(
        "llm",
        cmd,
        {**os.environ, "PYTHONPATH": str(REPO_ROOT / "ollama-host")},
        ready=lambda: http_get(f"{url}/") is not None,
        ready_timeout=OFFLINE_READY_TIMEOUT,
        stop_grace=20,
        port=port,
    )
