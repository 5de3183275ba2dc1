"""The stack's LLM step: which model `make up` serves and where it comes from — the real
gemma3:1b wherever the machine allows it:

1. an Ollama answers at OLLAMA_HOST: use it; if it lacks the model, pull it through Ollama's
   own pull API first, with progress (`--no-pull` / DOCSUM_PULL=0: only warn);
2. no Ollama: the offline host (``ollama-host/``) serves the real gemma3:1b weights, fetched
   once into the user's cache from the Ollama registry and verified by their pinned digest
   (``offline_ollama/fetch.py``);
3. no network for that: the bundled stand-in, said plainly, with the one command that gets the
   real model later.

Kept apart from the stack so the choice of where a model comes from stays one small step."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import ollama
from offline_ollama.cache import cache_dir
from offline_ollama.fetch import FetchError, Offline, ProgressPrinter, fetch, pin_for
from offline_ollama.models import PRODUCTION_MODEL

from infra.local.processes import LOOPBACK, REPO_ROOT, free_port, http_get
from infra.local.supervisor import Part

OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
STAND_IN = "smollm2:135m"
AUTO = "auto"  # the real gemma3:1b if it can be had, else the stand-in
FETCH_COMMAND = "make model"
# The registry answers in well under a second; a machine without a network should not wait.
REGISTRY_TIMEOUT_SECONDS = 10.0

Say = Callable[[str], None]
# The host loads its model first; other engineers' work shares the cores.
OFFLINE_READY_TIMEOUT = 300.0


@dataclass(frozen=True)
class Llm:
    host: str
    model: str
    started_here: bool
    origin: str  # where the model came from, for the banner and /ready


@dataclass(frozen=True)
class OfflineChoice:
    """What the offline host should serve, and the account of where it came from."""

    model: str
    origin: str


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


def running_ollama(default_model: str, say: Say, *, pull: bool = True) -> Llm | None:
    """The Ollama answering at ``OLLAMA_HOST`` (default 127.0.0.1:11434), if one does, with
    its model pulled first when it lacks it (unless ``pull`` is off)."""
    host = normalize_ollama_host(os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST)
    if http_get(f"{host}/api/version") is None:
        return None
    model = os.environ.get("OLLAMA_MODEL") or default_model
    say(f"LLM: an Ollama answers at {host}; using it with model {model}")
    if model in served_models(host):
        return Llm(host, model, started_here=False, origin=f"your Ollama at {host}")
    if not pull:
        say(f"LLM: WARNING: {host} does not list {model}; run `ollama pull {model}`")
        return Llm(host, model, False, f"your Ollama at {host} (model not pulled)")
    say(f"LLM: {host} lacks {model}: pulling it through Ollama (DOCSUM_PULL=0 skips this)")
    printer = ProgressPrinter(f"pulling {model}")
    started = time.monotonic()
    try:
        for update in ollama.Client(host=host).pull(model, stream=True):
            if update.total and update.completed is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                printer(update.completed, update.total, update.completed / elapsed)
    except (ollama.ResponseError, ConnectionError) as exc:
        say(f"LLM: WARNING: pulling {model} failed ({exc}); run `ollama pull {model}`")
        return Llm(host, model, False, f"your Ollama at {host} (pull failed)")
    say(f"LLM: pulled {model} into the Ollama at {host}")
    return Llm(host, model, False, f"your Ollama at {host} (pulled just now)")


def offline_model(wanted: str, *, fetch_real: bool, say: Say) -> OfflineChoice:
    """No Ollama: what the offline host should serve. ``wanted`` is a model name or ``auto``;
    raises FetchError when gemma3:1b itself was asked for and cannot be had."""
    if wanted not in (AUTO, PRODUCTION_MODEL):
        return OfflineChoice(wanted, f"{wanted} as asked: a stand-in, NOT {PRODUCTION_MODEL}")
    pin = pin_for(PRODUCTION_MODEL)
    if fetch_real:
        try:
            path = fetch(
                pin,
                cache_dir(),
                progress=ProgressPrinter(f"fetching {PRODUCTION_MODEL}"),
                timeout=REGISTRY_TIMEOUT_SECONDS,
            )
        except Offline as exc:
            reason = f"no network to fetch it ({exc})"
        except FetchError as exc:
            reason = str(exc)
        else:
            return OfflineChoice(
                PRODUCTION_MODEL,
                f"the weights `ollama pull {PRODUCTION_MODEL}` gets, "
                f"{pin.digest[:19]}… verified, cached in {path.parent}",
            )
    else:
        reason = "fetching it is turned off (DOCSUM_FETCH_MODEL=0)"
    if wanted == PRODUCTION_MODEL:
        raise FetchError(f"{PRODUCTION_MODEL} is not available: {reason}")
    say(
        f"LLM: serving the stand-in {STAND_IN}, not {PRODUCTION_MODEL}: {reason}. Its summaries "
        f"only exercise the pipeline. For the real model run `{FETCH_COMMAND}` "
        f"({pin.size / 1e6:.0f} MB once) when the network allows, then `make up` again."
    )
    return OfflineChoice(STAND_IN, f"stand-in {STAND_IN}, NOT {PRODUCTION_MODEL} ({reason})")


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
