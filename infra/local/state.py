"""Documents kept across restarts of the stack's own moto server, which holds everything in
memory: a restarted moto, or the next ``make up``, starts from what was saved here.

Saved every few seconds and at a clean stop: every object of the bucket (once: a document's
text and file never change under their key) and every table item, as DynamoDB's typed JSON.
Restored: objects, items, and one queue message for each document ``queued`` or
``processing``, sent as the API sends it (extra deliveries are harmless: generations dedupe
them). Not kept: messages as such (their
receive counts, delays and the dead-letter queue), and whatever changed after the last save.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from docsum.adapters.sqs import SqsWorkQueue
from docsum.domain.messages import SummarizeRequest

from infra.bootstrap import LocalResources
from infra.local.environment import aws_client

UNFINISHED = ("queued", "processing")


class DocumentState:
    def __init__(self, directory: Path, say: Callable[[str], None]) -> None:
        self.directory = directory
        self._objects = directory / "objects"
        self._items = directory / "items.json"
        self._say = say

    def forget(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def save(self, resources: LocalResources, endpoint_url: str) -> bool:
        """Save what the emulator holds now; False (and nothing overwritten) if it does not
        answer, e.g. while it restarts."""
        try:
            items = self._scan(resources, endpoint_url)
            self._save_objects(resources, endpoint_url)
        except Exception:
            return False
        tmp = self._items.with_suffix(".tmp")
        tmp.write_text(json.dumps(items))
        tmp.replace(self._items)  # a crash mid-write keeps the previous save
        return True

    def _scan(self, resources: LocalResources, endpoint_url: str) -> list[dict[str, Any]]:
        pages = aws_client("dynamodb", endpoint_url).get_paginator("scan")
        return [
            item for page in pages.paginate(TableName=resources.table) for item in page["Items"]
        ]

    def _save_objects(self, resources: LocalResources, endpoint_url: str) -> None:
        s3 = aws_client("s3", endpoint_url)
        self._objects.mkdir(parents=True, exist_ok=True)
        kept: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=resources.bucket):
            for entry in page.get("Contents", []):
                name = quote(entry["Key"], safe="")
                kept.add(name)
                path = self._objects / name
                if not path.exists():
                    body = s3.get_object(Bucket=resources.bucket, Key=entry["Key"])["Body"]
                    tmp = self._objects / f".{name}.partial"
                    tmp.write_bytes(body.read())
                    tmp.replace(path)
        for path in self._objects.iterdir():  # deleted documents stay deleted
            if path.name not in kept:
                path.unlink()

    def restore(self, resources: LocalResources, endpoint_url: str) -> None:
        """Put the saved documents into the (empty) resources and queue the unfinished ones."""
        if not self._items.exists():
            return
        items: list[dict[str, Any]] = json.loads(self._items.read_text())
        dynamodb = aws_client("dynamodb", endpoint_url)
        queue = SqsWorkQueue(aws_client("sqs", endpoint_url), resources.queue_url)
        unfinished = 0
        for item in items:  # documents, and whatever else the table holds (kept as it was)
            dynamodb.put_item(TableName=resources.table, Item=item)
            if item.get("status", {}).get("S") in UNFINISHED and "generation" in item:
                unfinished += 1
                queue.send(
                    SummarizeRequest(
                        document_id=item["id"]["S"],
                        generation=int(item["generation"]["N"]),
                        correlation_id=item.get("correlation_id", {}).get("S"),
                    )
                )
        # Objects last: an upload's S3 event, sent again, then finds its document (a repeated
        # event is a plain redelivery to the worker; one lost in the crash is sent anew).
        s3 = aws_client("s3", endpoint_url)
        for path in sorted(self._objects.glob("[!.]*")) if self._objects.exists() else []:
            s3.put_object(Bucket=resources.bucket, Key=unquote(path.name), Body=path.read_bytes())
        self._say(
            f"restored {len(items)} item(s) from {self.directory} "
            f"({unfinished} unfinished, queued again)"
        )
