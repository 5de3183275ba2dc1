"""Adapters: the ports implemented with AWS services and the Ollama client."""
