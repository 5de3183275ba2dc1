"""Submission: text, files and presigned uploads become documents and queued work."""
