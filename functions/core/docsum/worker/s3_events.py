"""S3 bucket notifications on the summarize queue: the files presigned uploads delivered, read
with Powertools' S3 event data class."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.s3_event import S3Event


@dataclass(frozen=True)
class ArrivedFile:
    key: str
    size: int
    version: str | None = None  # the S3 version it announces (the bucket is versioned)


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
    if not all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records):
        return None
    files = []
    for record in S3Event(data).records:
        stored = record.s3.get("object") or {}
        key, size = unquote_plus(str(stored.get("key", ""))), int(stored.get("size", 0))
        version = stored.get("versionId")
        files.append(ArrivedFile(key, size, str(version) if version else None))
    return files
