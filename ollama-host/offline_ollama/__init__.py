"""offline-ollama: a small server that speaks Ollama's REST API, backed by llama.cpp (cyllama).

It stands in for a real Ollama + gemma3:1b where neither can be had (no Docker, no model
downloads). It serves small GGUF models under their true names (``smollm2:135m``,
``gemma3:270m``); it never claims to be ``gemma3:1b``.

Start it with ``python -m offline_ollama --model smollm2:135m`` (see ``--help``), or from Python
with :func:`start_in_subprocess`.
"""

from __future__ import annotations

from .launcher import OfflineOllama, start_in_subprocess

__version__ = "0.1.0"

__all__ = ["OfflineOllama", "__version__", "start_in_subprocess"]
