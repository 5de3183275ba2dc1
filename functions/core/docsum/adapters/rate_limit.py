"""The API's per-client rate limit: a fixed-window counter in DynamoDB."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


class DynamoRateLimiter:
    """Fixed-window counter per client: one atomic ADD per request on an item that expires
    (TTL) with its window, so the limit holds across every Lambda instance. The items share
    the documents table; their ids cannot collide with document ids (32 hex characters)."""

    def __init__(self, table: Any, requests: int, window_seconds: int) -> None:
        self._table = table
        self._requests = requests
        self._window = window_seconds

    def hit(self, client: str, now: datetime) -> int | None:
        epoch = now.timestamp()
        window_start = int(epoch // self._window * self._window)
        window_end = window_start + self._window
        result = self._table.update_item(
            Key={"id": f"rate-limit#{client}#{window_start}"},
            UpdateExpression="ADD hits :one SET expires_at = :end",
            ExpressionAttributeValues={":one": 1, ":end": window_end},
            ReturnValues="UPDATED_NEW",
        )
        if int(result["Attributes"]["hits"]) <= self._requests:
            return None
        return max(1, math.ceil(window_end - epoch))
