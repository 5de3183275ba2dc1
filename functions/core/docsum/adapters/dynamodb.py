"""DynamoDB: the document repository, every transition one conditional write."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from docsum.adapters.client_errors import error_is
from docsum.adapters.dynamodb_items import (
    ACTIVE_INDEX,
    OWNER_INDEX,
    PENDING_INDEX,
    TEXT_INDEX,
    from_item,
    iso,
    numbers,
    to_item,
)
from docsum.domain.document import Document, DocumentPage, Progress, Source, Status, Summary
from docsum.domain.errors import DocumentNotFound
from docsum.domain.paging import decode_cursor, encode_cursor
from docsum.ports.repository import Release

# A tombstone outlives every message that may still name its document: the DLQ keeps messages
# 14 days, and a redrive can bring one back within them.
TOMBSTONE_LIFETIME = timedelta(days=15)
_SPARSE_PAGE_READ = 100  # items per read once a status filter or expiry thinned a page
_LEAVE_INDEX = "processing_until, pending, due_at, retrying_since, active_owner"


class DynamoDocumentRepository:
    """Each transition is one conditional UpdateItem; a failed condition means another
    delivery or request got there first, never an error."""

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

    def _update(
        self,
        document_id: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> Document | None:
        try:
            result = self._table.update_item(
                Key={"id": document_id},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                # DynamoDB rejects names an expression does not use.
                ExpressionAttributeNames={
                    key: value
                    for key, value in {"#status": "status", **(names or {})}.items()
                    if key in update or key in condition
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_is(exc, "ConditionalCheckFailedException"):
                return None
            raise
        return from_item(result["Attributes"])

    def request_summary(self, document_id: str, now: datetime, correlation_id: str) -> Document:
        document = self._update(
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
        self._update(
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
        return self._update(document_id, update, "#status = :uploading", values)

    def save_extraction(
        self, document_id: str, generation: int, text_chars: int, title: str | None, source: Source
    ) -> None:
        values: dict[str, Any] = {
            ":g": generation,
            ":processing": Status.PROCESSING.value,
            ":chars": text_chars,
            ":source": numbers(source.model_dump(exclude_none=True)),
        }
        update = "SET text_chars = :chars, #source = :source"
        if title:
            update += ", title = :title"
            values[":title"] = title
        self._update(
            document_id,
            update,
            "generation = :g AND #status = :processing",
            values,
            {"#source": "source"},
        )

    def claim(
        self, document_id: str, generation: int, now: datetime, lease_until: datetime
    ) -> Document | None:
        return self._update(
            document_id,
            "SET #status = :processing, attempts = attempts + :one, processing_until = :lease, "
            "unfinished_attempts = if_not_exists(unfinished_attempts, :zero) + :one, "
            "updated_at = :now, pending = :processing, due_at = :lease",
            "generation = :g AND summary_generation < :g AND #status <> :failed "
            "AND (#status <> :processing OR processing_until < :now)",
            {
                ":g": generation,
                ":one": 1,
                ":zero": 0,
                ":failed": Status.FAILED.value,
                ":processing": Status.PROCESSING.value,
                ":lease": iso(lease_until),
                ":now": iso(now),
            },
        )

    def save_progress(
        self, document_id: str, generation: int, progress: Progress, chunk_summaries: dict[str, str]
    ) -> bool:
        saved = self._update(
            document_id,
            "SET progress = :progress, chunk_summaries = :chunks",
            "generation = :g AND #status = :processing",
            {
                ":g": generation,
                ":processing": Status.PROCESSING.value,
                ":progress": progress.model_dump(),
                ":chunks": chunk_summaries,
            },
        )
        return saved is not None

    def release(
        self, document_id: str, generation: int, now: datetime, how: Release
    ) -> Document | None:
        return self._update(
            document_id,
            "SET #status = :queued, #error = :reason, updated_at = :now, pending = :queued, "
            "due_at = :due"
            + (", retrying_since = if_not_exists(retrying_since, :now)" if how.failed else "")
            # An attempt that ends on its own: the worker-death count starts again.
            + (", unfinished_attempts = :zero" if how.held else "")
            + " REMOVE processing_until",
            "generation = :g AND summary_generation < :g AND #status = :expected",
            {
                ":g": generation,
                ":queued": Status.QUEUED.value,
                ":reason": how.reason,
                ":now": iso(now),
                ":due": iso(how.retry_at or now),
                ":expected": (Status.PROCESSING if how.held else Status.QUEUED).value,
                **({":zero": 0} if how.held else {}),
            },
            {"#error": "error"},
        )

    def requeue(
        self, seen: Document, now: datetime, next_due: datetime, reason: str | None
    ) -> Document | None:
        expected = {
            ":g": seen.generation,
            ":seen_status": seen.status.value,
            ":seen_due": iso(seen.due_at or seen.enqueued_at),
        }
        update = "SET #status = :queued, updated_at = :now, pending = :queued, due_at = :due"
        values: dict[str, Any] = {
            **expected,
            ":queued": Status.QUEUED.value,
            ":now": iso(now),
            ":due": iso(next_due),
        }
        if reason is not None:
            update += ", #error = :reason, retrying_since = if_not_exists(retrying_since, :now)"
            values[":reason"] = reason
        return self._update(
            seen.id,
            update + " REMOVE processing_until",
            "generation = :g AND summary_generation < :g AND #status = :seen_status "
            "AND due_at = :seen_due",
            values,
            {"#error": "error"},
        )

    def overdue(self, now: datetime, stuck_before: datetime, limit: int) -> list[Document]:
        found: list[Document] = []
        for status, before in ((Status.PROCESSING, now), (Status.QUEUED, stuck_before)):
            query: dict[str, Any] = {
                "IndexName": PENDING_INDEX,
                "KeyConditionExpression": "pending = :status AND due_at < :before",
                "ExpressionAttributeValues": {":status": status.value, ":before": iso(before)},
            }
            while len(found) < limit:
                page = self._table.query(**query, Limit=limit - len(found))
                found.extend(from_item(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def save_summary(
        self, document_id: str, generation: int, summary: Summary, now: datetime
    ) -> bool:
        saved = self._update(
            document_id,
            "SET summary = :summary, summary_generation = :g, #status = :done, "
            "model = :model, prompt_tokens = :pt, completion_tokens = :ct, "
            "model_seconds = :ms, summarized_at = :now, updated_at = :now, "
            "#language = :language, summary_verbatim = :verbatim, llm_calls = :calls, "
            "#method = :method, #sentences = :sentences, #grounding = :grounding, #note = :note "
            "REMOVE #error, progress, chunk_summaries, " + _LEAVE_INDEX,
            "generation = :g AND summary_generation < :g AND #status <> :failed",
            {
                ":g": generation,
                ":summary": summary.text,
                ":done": Status.DONE.value,
                ":failed": Status.FAILED.value,
                ":model": summary.model,
                ":pt": summary.prompt_tokens,
                ":ct": summary.completion_tokens,
                ":ms": Decimal(str(summary.model_seconds)),
                ":now": iso(now),
                ":language": summary.language,
                ":verbatim": summary.verbatim,
                ":calls": summary.llm_calls,
                ":method": summary.method.value,
                ":sentences": numbers([s.model_dump() for s in summary.sentences]),
                ":grounding": numbers(summary.grounding and summary.grounding.model_dump()),
                ":note": summary.note,
            },
            # Names, as DynamoDB reserves many words (LANGUAGE among them).
            {
                "#error": "error",
                "#language": "language",
                "#method": "method",
                "#sentences": "sentences",
                "#grounding": "grounding",
                "#note": "note",
            },
        )
        return saved is not None

    def mark_failed(self, document_id: str, generation: int, reason: str, now: datetime) -> bool:
        failed = self._update(
            document_id,
            # `retrying_since` stays: `failed` is final, the record says when failures began.
            "SET #status = :failed, #error = :reason, updated_at = :now "
            "REMOVE processing_until, pending, due_at, active_owner",
            "generation = :g AND summary_generation < :g",
            {
                ":g": generation,
                ":failed": Status.FAILED.value,
                ":reason": reason,
                ":now": iso(now),
            },
            {"#error": "error"},
        )
        return failed is not None
