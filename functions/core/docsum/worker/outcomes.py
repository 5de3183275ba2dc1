"""What one delivery came to (the worker returns it; tests and logs read it)."""

from __future__ import annotations

from enum import StrEnum

MALFORMED = "malformed message"
DELETED_WHILE_SUMMARIZED = "document deleted while being summarized: the work is dropped"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    STALE = "stale"
    SUPERSEDED = "superseded"
    PARKED = "parked"  # moved to the dead-letter queue at once
    GONE = "gone"  # the document was deleted or has expired
    IGNORED = "ignored"  # an S3 event that announces no upload of a known document
    PAUSED = "paused"  # out of time: a fresh message continues it
