"""The per-client request counter behind the API's rate limit."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class RateLimiter(Protocol):
    def hit(self, client: str, now: datetime) -> int | None:
        """Count one request of `client`; seconds until it may retry when over its limit."""
        ...
