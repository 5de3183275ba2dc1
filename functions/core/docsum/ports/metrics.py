"""Where use cases record their metrics."""

from __future__ import annotations

from typing import Protocol


class MetricsRecorder(Protocol):
    """Where use cases record their metrics (CloudWatch EMF through Powertools in Lambda)."""

    def count(self, name: str, value: float = 1) -> None: ...

    def seconds(self, name: str, value: float) -> None: ...
