"""The small interfaces (Protocols) the use cases need; `docsum.adapters` implements them for
AWS, Ollama and HTTP, `tests/fakes.py` in memory."""
