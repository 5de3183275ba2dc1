"""What one delivery came to (the worker returns it; tests and logs read it), and the count of
what the guard made of its answers."""

from __future__ import annotations

from enum import StrEnum

from docsum.ports.metrics import MetricsRecorder

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


def count_guard(metrics: MetricsRecorder, outcomes: dict[str, int]) -> None:
    """`Guard_<outcome>` per answer (passed, retry_passed, salvaged, …) and
    `Guard_check_<check>` per check an answer failed."""
    for outcome, times in outcomes.items():
        metrics.count(f"Guard_{outcome}", times)
