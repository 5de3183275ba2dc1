"""EventBridge: completion events on the account's default bus."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class EventBridgePublisher:
    """Events on the account's default bus (the functions may put events there only)."""

    def __init__(self, events: Any, source: str) -> None:
        self._events = events
        self._source = source

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        answer = self._events.put_events(
            Entries=[
                {
                    "Source": self._source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, separators=(",", ":")),
                    "EventBusName": "default",
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            failure = answer["Entries"][0]
            code, why = failure.get("ErrorCode"), failure.get("ErrorMessage")
            raise RuntimeError(f"event not put: {code} {why}")
