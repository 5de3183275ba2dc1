"""Documents kept across restarts of the stack's own moto server, which holds everything in
memory: a restarted moto, or the next ``make up``, starts from what was saved here.

Saved every few seconds and at a clean stop: every text (once: a text's key is its document's
id, so it never changes) and every table item, as DynamoDB's typed JSON. Restored: texts, items,
and one queue message for each document not yet ``done`` or ``failed``, sent as the API sends
it (extra deliveries are harmless: generations dedupe them). Not kept: messages as such (their
receive counts, delays and the dead-letter queue), and whatever changed after the last save.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from docsum.adapters.aws import S3TextStore, SqsWorkQueue
from docsum.models import SummarizeRequest

from infra.bootstrap import LocalResources
from infra.local.environment import aws_client

UNFINISHED = ("queued", "processing")


class DocumentState:
    def __init__(self, directory: Path, say: Callable[[str], None]) -> None:
        self.directory = directory
        self._texts = directory / "texts"
        self._items = directory / "items.json"
        self._say = say

    def forget(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def save(self, resources: LocalResources, endpoint_url: str) -> bool:
        """Save what the emulator holds now; False (and nothing overwritten) if it does not
        answer, e.g. while it restarts."""
        try:
            items = self._scan(resources, endpoint_url)
            self._save_texts(resources, endpoint_url)
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

    def _save_texts(self, resources: LocalResources, endpoint_url: str) -> None:
        s3 = aws_client("s3", endpoint_url)
        store = S3TextStore(s3, resources.bucket)
        self._texts.mkdir(parents=True, exist_ok=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=resources.bucket):
            for entry in page.get("Contents", []):
                path = self._texts / quote(entry["Key"], safe="")
                if not path.exists():
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(store.get_text(entry["Key"]), encoding="utf-8")
                    tmp.replace(path)

    def restore(self, resources: LocalResources, endpoint_url: str) -> None:
        """Put the saved documents into the (empty) resources and queue the unfinished ones."""
        if not self._items.exists():
            return
        items: list[dict[str, Any]] = json.loads(self._items.read_text())
        s3 = aws_client("s3", endpoint_url)
        store = S3TextStore(s3, resources.bucket)
        dynamodb = aws_client("dynamodb", endpoint_url)
        queue = SqsWorkQueue(aws_client("sqs", endpoint_url), resources.queue_url)
        unfinished = 0
        for item in items:
            text_key = item["text_key"]["S"]
            text = self._texts / quote(text_key, safe="")
            if text.exists():
                store.put_text(text_key, text.read_text(encoding="utf-8"))
            dynamodb.put_item(TableName=resources.table, Item=item)
            if item["status"]["S"] in UNFINISHED:
                unfinished += 1
                queue.send(
                    SummarizeRequest(
                        document_id=item["id"]["S"],
                        generation=int(item["generation"]["N"]),
                        correlation_id=item.get("correlation_id", {}).get("S"),
                    )
                )
        self._say(
            f"restored {len(items)} document(s) from {self.directory} "
            f"({unfinished} unfinished, queued again)"
        )
