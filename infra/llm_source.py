"""Which model `make up` serves, and where it comes from — the real gemma3:1b wherever the
machine allows it:

1. an Ollama answers at OLLAMA_HOST: use it; if it lacks the model, pull it through Ollama's
   own pull API first, with progress (`--no-pull` / DOCSUM_PULL=0: only warn, as before);
2. no Ollama: the offline host serves the real gemma3:1b weights, fetched once into the user's
   cache from the Ollama registry and verified by their pinned digest (offline_ollama/fetch.py);
3. no network for that: the bundled stand-in, said plainly, with the one command that gets the
   real model later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import ollama
from offline_ollama.fetch import FetchError, Offline, ProgressPrinter, fetch, pin_for
from offline_ollama.models import PRODUCTION_MODEL, cache_dir

STAND_IN = "smollm2:135m"
AUTO = "auto"
FETCH_COMMAND = "make model"
# The registry answers in well under a second; a machine without a network should not wait.
REGISTRY_TIMEOUT_SECONDS = 10.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class LlmSource:
    """What to serve: `host` set means an Ollama that is already running; else the offline
    host is started with `model`. `origin` is the banner's (and /ready's) account of it."""

    model: str
    origin: str
    host: str | None = None

    @property
    def real(self) -> bool:
        return self.model == PRODUCTION_MODEL


def running_ollama(host: str, model: str, *, pull: bool, say: Say) -> LlmSource:
    """An Ollama answers at `host`: make sure it has `model` (pulling it unless told not to)."""
    client = ollama.Client(host=host)
    served = {m.model for m in client.list().models}
    if model in served:
        return LlmSource(model, f"the Ollama at {host}", host)
    if not pull:
        say(f"LLM: WARNING: {host} does not list {model}; run `ollama pull {model}`")
        return LlmSource(model, f"the Ollama at {host} (model not pulled)", host)
    say(f"LLM: {host} lacks {model}: pulling it through Ollama (DOCSUM_PULL=0 skips this)")
    printer = ProgressPrinter(f"pulling {model}")
    started = time.monotonic()
    try:
        for update in client.pull(model, stream=True):
            if update.total and update.completed is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                printer(update.completed, update.total, update.completed / elapsed)
    except (ollama.ResponseError, ConnectionError) as exc:
        say(f"LLM: WARNING: pulling {model} failed ({exc}); run `ollama pull {model}`")
        return LlmSource(model, f"the Ollama at {host} (pull failed)", host)
    say(f"LLM: pulled {model} into the Ollama at {host}")
    return LlmSource(model, f"the Ollama at {host} (pulled just now)", host)


def offline_model(wanted: str, *, fetch_real: bool, say: Say) -> LlmSource:
    """No Ollama: what the offline host should serve. `wanted` is a model name or `auto`."""
    if wanted not in (AUTO, PRODUCTION_MODEL):
        return LlmSource(wanted, f"offline host, {wanted} as asked (a stand-in, not gemma3:1b)")
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
            return LlmSource(
                PRODUCTION_MODEL,
                f"offline host, the weights `ollama pull {PRODUCTION_MODEL}` gets "
                f"({pin.digest[:19]}…, verified) from {path.parent}",
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
    return LlmSource(STAND_IN, f"offline host, stand-in {STAND_IN} ({reason})")
