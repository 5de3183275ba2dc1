"""docsum: the domain core shared by the ingest and summarize functions.

Handlers parse events and call into this package; storage and the LLM sit behind the small
interfaces in `ports`, with AWS and Ollama adapters in `adapters`.
"""
