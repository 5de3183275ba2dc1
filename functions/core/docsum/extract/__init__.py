"""Extraction: a file's kind decided from its bytes, then its text read within bounds."""
