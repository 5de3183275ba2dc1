"""DynamoDB: the document repository, every transition one conditional write. The API side's
half is here (create, read, list, delete, re-summarize, uploads); the summarize side's is in
`dynamodb_work`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from docsum.adapters.client_errors import error_is
from docsum.adapters.dynamodb_items import (
    ACTIVE_INDEX,
    OWNER_INDEX,
    TEXT_INDEX,
    from_item,
    iso,
    to_item,
    update_document,
)
from docsum.adapters.dynamodb_work import WorkTransitions
from docsum.domain.document import Document, DocumentPage, Status
from docsum.domain.errors import DocumentNotFound
from docsum.domain.paging import decode_cursor, encode_cursor

# A tombstone outlives every message that may still name its document: the DLQ keeps messages
# 14 days, and a redrive can bring one back within them.
TOMBSTONE_LIFETIME = timedelta(days=15)
_SPARSE_PAGE_READ = 100  # items per read once a status filter or expiry thinned a page


class DynamoDocumentRepository(WorkTransitions):
    """Each transition is one conditional write; a failed condition means another delivery or
    request got there first, never an error. The summarize side's transitions (claim, release,
    summary, …) are `WorkTransitions`'."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, document: Document) -> bool:
        # A tombstone, or a record past its expiry that TTL has not removed yet, may be replaced.
        try:
            self._table.put_item(
                Item=to_item(document),
                ConditionExpression="attribute_not_exists(id) OR attribute_exists(deleted_at) "
                "OR expires_at <= :now",
                ExpressionAttributeValues={":now": int(document.created_at.timestamp())},
            )
        except ClientError as exc:
            if error_is(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def _item(self, document_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(
            Key={"id": document_id}, ConsistentRead=True
        ).get("Item")
        return item

    def get(self, document_id: str) -> Document | None:
        item = self._item(document_id)
        return from_item(item) if item and "deleted_at" not in item else None

    def delete(self, document_id: str, now: datetime) -> bool:
        tombstone = {
            "id": document_id,
            "deleted_at": iso(now),
            "expires_at": int((now + TOMBSTONE_LIFETIME).timestamp()),
        }
        try:
            self._table.put_item(
                Item=tombstone,
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(deleted_at)",
            )
        except ClientError as exc:
            if error_is(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def was_deleted(self, document_id: str) -> bool:
        item = self._item(document_id)
        return item is not None and "deleted_at" in item

    def list_owned(
        self, owner: str, limit: int, cursor: str | None, status: Status | None, now: datetime
    ) -> DocumentPage:
        from boto3.dynamodb.conditions import Attr, Key  # boto3 loads on first use, not import

        live = Attr("expires_at").not_exists() | Attr("expires_at").gt(int(now.timestamp()))
        wanted = live & Attr("status").eq(status.value) if status else live
        start = None
        if cursor:
            created_at, after_id = decode_cursor(cursor)
            start = {"id": after_id, "owner": owner, "created_at": iso(created_at)}
        items: list[Document] = []
        # One item more than the page says whether another page follows (never an empty last
        # page). DynamoDB applies Limit before the filter, so when the filter dropped items the
        # next reads are larger, to fill a sparse page in few round trips.
        read = limit + 1
        while True:
            query: dict[str, Any] = {
                "IndexName": OWNER_INDEX,
                "KeyConditionExpression": Key("owner").eq(owner),
                "FilterExpression": wanted,
                "ScanIndexForward": False,
                "Limit": read,
            }
            if start:
                query["ExclusiveStartKey"] = start
            result = self._table.query(**query)
            items.extend(from_item(item) for item in result.get("Items", []))
            if len(items) > limit:
                last = items[limit - 1]
                return DocumentPage(
                    items=items[:limit], next_cursor=encode_cursor(last.created_at, last.id)
                )
            start = result.get("LastEvaluatedKey")
            if start is None:
                return DocumentPage(items=items)
            read = _SPARSE_PAGE_READ

    def active_work(self, owner: str, now: datetime) -> tuple[int, int]:
        # Eventually consistent, like every GSI: a burst of submissions may pass the cap by a
        # few; the next ones see them. The index holds only live work, so this reads little.
        query: dict[str, Any] = {
            "IndexName": ACTIVE_INDEX,
            "KeyConditionExpression": "active_owner = :owner",
            "FilterExpression": "attribute_not_exists(expires_at) OR expires_at > :now",
            "ExpressionAttributeValues": {":owner": owner, ":now": int(now.timestamp())},
        }
        documents = chars = 0
        while True:
            page = self._table.query(**query)
            for item in page.get("Items", []):
                documents += 1
                chars += int(item.get("text_chars", 0))
            if "LastEvaluatedKey" not in page:
                return documents, chars
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def text_in_use(self, text_key: str) -> bool:
        # The index is eventually consistent: confirm each hit with a consistent read (the
        # document being deleted may still be listed there).
        query: dict[str, Any] = {
            "IndexName": TEXT_INDEX,
            "KeyConditionExpression": "text_key = :text_key",
            "ExpressionAttributeValues": {":text_key": text_key},
        }
        while True:
            result = self._table.query(**query)
            for hit in result.get("Items", []):
                document = self.get(str(hit["id"]))
                if document is not None and document.text_key == text_key:
                    return True
            if "LastEvaluatedKey" not in result:
                return False
            query["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def request_summary(self, document_id: str, now: datetime, correlation_id: str) -> Document:
        document = update_document(
            self._table,
            document_id,
            "SET generation = generation + :one, #status = :queued, attempts = :zero, "
            "unfinished_attempts = :zero, updated_at = :now, enqueued_at = :now, "
            "correlation_id = :cid, pending = :queued, due_at = :now, active_owner = #owner "
            "REMOVE #error, processing_until, progress, chunk_summaries, retrying_since",
            "attribute_exists(id) AND attribute_not_exists(deleted_at)",
            {
                ":one": 1,
                ":zero": 0,
                ":queued": Status.QUEUED.value,
                ":now": iso(now),
                ":cid": correlation_id,
            },
            {"#error": "error", "#owner": "owner"},
        )
        if document is None:
            raise DocumentNotFound(document_id)
        return document

    def mark_enqueued(self, document_id: str, generation: int, now: datetime) -> None:
        update_document(
            self._table,
            document_id,
            "SET enqueued_at = :now, due_at = :now",
            "generation = :g AND #status = :queued",
            {":g": generation, ":now": iso(now), ":queued": Status.QUEUED.value},
        )

    def mark_uploaded(
        self, document_id: str, now: datetime, expires_at: int | None, version: str | None
    ) -> Document | None:
        values: dict[str, Any] = {
            ":queued": Status.QUEUED.value,
            ":uploading": Status.UPLOADING.value,
            ":now": iso(now),
        }
        # From now on the sweeper watches it like any queued document.
        update = (
            "SET #status = :queued, enqueued_at = :now, updated_at = :now, "
            "pending = :queued, due_at = :now"
        )
        if version is not None:
            update += ", upload_version = :version"
            values[":version"] = version
        if expires_at is None:
            update += " REMOVE expires_at"
        else:
            update += ", expires_at = :expires"
            values[":expires"] = expires_at
        return update_document(self._table, document_id, update, "#status = :uploading", values)
