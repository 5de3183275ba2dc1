"""S3 bucket notifications: the files a presigned upload delivered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus


@dataclass(frozen=True)
class ArrivedFile:
    key: str
    size: int


def s3_event_files(body: str) -> list[ArrivedFile] | None:
    """The objects an S3 bucket notification announces ([] for its `s3:TestEvent`); None when
    the message is not from S3. Keys come URL-encoded."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("Event") == "s3:TestEvent":
        return []
    records = data.get("Records")
    if not isinstance(records, list) or not records:
        return None
    files = []
    for record in records:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            return None
        stored = record.get("s3", {}).get("object", {})
        files.append(
            ArrivedFile(unquote_plus(str(stored.get("key", ""))), int(stored.get("size", 0)))
        )
    return files
