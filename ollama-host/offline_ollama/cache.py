"""Where fetched and assembled model files live: shared by the registry (``models``) and the
fetcher (``fetch``), so neither has to import the other for it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("OFFLINE_OLLAMA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "offline-ollama"
