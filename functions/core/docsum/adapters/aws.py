"""S3, DynamoDB and SQS adapters (boto3; `AWS_ENDPOINT_URL` points them at moto or LocalStack)."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from docsum.domain.document import (
    Document,
    DocumentPage,
    Progress,
    Source,
    Status,
    SummarizeRequest,
    Summary,
    WebhookMessage,
)
from docsum.domain.errors import DocumentNotFound, FileTooLarge, TextMissing
from docsum.domain.paging import decode_cursor, encode_cursor
from docsum.ports.storage import PresignedPost

# The table's secondary indexes (template.yaml declares them; a test keeps the two in step).
OWNER_INDEX = "by-owner"  # owner, created_at: an owner's documents, newest first
TEXT_INDEX = "by-text"  # text_key: which documents use a stored text
# A tombstone outlives every message that may still name its document: the DLQ keeps messages
# 14 days, and a redrive can bring one back within them.
TOMBSTONE_LIFETIME = timedelta(days=15)
_SPARSE_PAGE_READ = 100  # items per read once a status filter or expiry thinned a page


def _is(exc: ClientError, *codes: str) -> bool:
    return exc.response.get("Error", {}).get("Code") in codes


class S3TextStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put_text(self, key: str, text: str) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=text.encode("utf-8"),
            ContentType="text/plain; charset=utf-8",
        )

    def get_text(self, key: str) -> str:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _is(exc, "NoSuchKey", "404", "NotFound"):
                raise TextMissing(f"s3://{self._bucket}/{key} does not exist") from exc
            raise
        return str(body.decode("utf-8"))

    def delete(self, key: str) -> None:
        # The bucket is versioned: deleting only the current version would keep the text
        # recoverable, so every version (and delete marker) of the key goes.
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=key):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry["Key"] == key:
                    self._s3.delete_object(
                        Bucket=self._bucket, Key=key, VersionId=entry["VersionId"]
                    )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def get_bytes(self, key: str, max_bytes: int) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _is(exc, "NoSuchKey", "404", "NotFound"):
                raise TextMissing(f"s3://{self._bucket}/{key} does not exist") from exc
            raise
        body = response["Body"]
        size = int(response.get("ContentLength", 0))
        if size > max_bytes:  # the POST policy should have refused it: never read it
            body.close()
            raise FileTooLarge(size, max_bytes)
        data: bytes = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FileTooLarge(len(data), max_bytes)
        return data

    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))


def _iso(moment: datetime) -> str:
    """One fixed-width UTC format, so DynamoDB can compare timestamps as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The sweeper's sparse index (template.yaml: DocumentsTable's GSI): `pending` holds the status
# while a document is queued or processing and is removed when it ends, so the index holds only
# documents that can still get stuck, ordered by `due_at`.
PENDING_INDEX = "pending-due"
_LEAVE_INDEX = "processing_until, pending, due_at, retrying_since"


def _to_item(document: Document) -> dict[str, Any]:
    data = document.model_dump(exclude_none=True)
    if document.status in (Status.QUEUED, Status.PROCESSING):
        data["pending"] = document.status.value
        data.setdefault("due_at", document.enqueued_at)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = _iso(value)
        elif isinstance(value, float):
            data[key] = Decimal(str(value))
        elif isinstance(value, StrEnum):
            data[key] = value.value
    if not data.get("chunk_summaries"):
        data.pop("chunk_summaries", None)
    return data


def _plain(value: Any) -> Any:
    """DynamoDB hands numbers back as Decimal: a whole one becomes int, any other float, and
    the model's field types decide the rest (pydantic turns int into float where declared)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _from_item(item: dict[str, Any]) -> Document:
    data = _plain(item)
    data.pop("pending", None)  # the sweeper's index key, derived from the status
    return Document.model_validate(data)


class DynamoDocumentRepository:
    """Each transition is one conditional UpdateItem; a failed condition means another
    delivery or request got there first, never an error."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, document: Document) -> bool:
        # A tombstone, or a record past its expiry that TTL has not removed yet, may be replaced.
        try:
            self._table.put_item(
                Item=_to_item(document),
                ConditionExpression="attribute_not_exists(id) OR attribute_exists(deleted_at) "
                "OR expires_at <= :now",
                ExpressionAttributeValues={":now": int(document.created_at.timestamp())},
            )
        except ClientError as exc:
            if _is(exc, "ConditionalCheckFailedException"):
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
        return _from_item(item) if item and "deleted_at" not in item else None

    def delete(self, document_id: str, now: datetime) -> bool:
        tombstone = {
            "id": document_id,
            "deleted_at": _iso(now),
            "expires_at": int((now + TOMBSTONE_LIFETIME).timestamp()),
        }
        try:
            self._table.put_item(
                Item=tombstone,
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(deleted_at)",
            )
        except ClientError as exc:
            if _is(exc, "ConditionalCheckFailedException"):
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
            start = {"id": after_id, "owner": owner, "created_at": _iso(created_at)}
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
            items.extend(_from_item(item) for item in result.get("Items", []))
            if len(items) > limit:
                last = items[limit - 1]
                return DocumentPage(
                    items=items[:limit], next_cursor=encode_cursor(last.created_at, last.id)
                )
            start = result.get("LastEvaluatedKey")
            if start is None:
                return DocumentPage(items=items)
            read = _SPARSE_PAGE_READ

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
            if _is(exc, "ConditionalCheckFailedException"):
                return None
            raise
        return _from_item(result["Attributes"])

    def request_summary(self, document_id: str, now: datetime, correlation_id: str) -> Document:
        document = self._update(
            document_id,
            "SET generation = generation + :one, #status = :queued, attempts = :zero, "
            "updated_at = :now, enqueued_at = :now, correlation_id = :cid, "
            "pending = :queued, due_at = :now "
            "REMOVE #error, processing_until, progress, chunk_summaries, retrying_since",
            "attribute_exists(id) AND attribute_not_exists(deleted_at)",
            {
                ":one": 1,
                ":zero": 0,
                ":queued": Status.QUEUED.value,
                ":now": _iso(now),
                ":cid": correlation_id,
            },
            {"#error": "error"},
        )
        if document is None:
            raise DocumentNotFound(document_id)
        return document

    def mark_enqueued(self, document_id: str, generation: int, now: datetime) -> None:
        self._update(
            document_id,
            "SET enqueued_at = :now, due_at = :now",
            "generation = :g AND #status = :queued",
            {":g": generation, ":now": _iso(now), ":queued": Status.QUEUED.value},
        )

    def mark_uploaded(
        self, document_id: str, now: datetime, expires_at: int | None
    ) -> Document | None:
        values: dict[str, Any] = {
            ":queued": Status.QUEUED.value,
            ":uploading": Status.UPLOADING.value,
            ":now": _iso(now),
        }
        # From now on the sweeper watches it like any queued document.
        update = (
            "SET #status = :queued, enqueued_at = :now, updated_at = :now, "
            "pending = :queued, due_at = :now"
        )
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
            ":source": source.model_dump(exclude_none=True),
        }
        update = "SET text_chars = :chars, #source = :source"
        if title:
            update += ", title = if_not_exists(title, :title)"
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
            "updated_at = :now, pending = :processing, due_at = :lease",
            "generation = :g AND summary_generation < :g "
            "AND (#status <> :processing OR processing_until < :now)",
            {
                ":g": generation,
                ":one": 1,
                ":processing": Status.PROCESSING.value,
                ":lease": _iso(lease_until),
                ":now": _iso(now),
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
        self,
        document_id: str,
        generation: int,
        now: datetime,
        reason: str,
        *,
        retry_at: datetime | None = None,
        failed: bool = True,
        held: bool = True,
    ) -> Document | None:
        return self._update(
            document_id,
            "SET #status = :queued, #error = :reason, updated_at = :now, pending = :queued, "
            "due_at = :due"
            + (", retrying_since = if_not_exists(retrying_since, :now)" if failed else "")
            + " REMOVE processing_until",
            "generation = :g AND summary_generation < :g AND #status = :expected",
            {
                ":g": generation,
                ":queued": Status.QUEUED.value,
                ":reason": reason,
                ":now": _iso(now),
                ":due": _iso(retry_at or now),
                ":expected": (Status.PROCESSING if held else Status.QUEUED).value,
            },
            {"#error": "error"},
        )

    def requeue(
        self,
        document_id: str,
        generation: int,
        seen: Document,
        now: datetime,
        next_due: datetime,
        reason: str | None,
    ) -> Document | None:
        expected = {
            ":g": generation,
            ":seen_status": seen.status.value,
            ":seen_due": _iso(seen.due_at or seen.enqueued_at),
        }
        update = "SET #status = :queued, updated_at = :now, pending = :queued, due_at = :due"
        values: dict[str, Any] = {
            **expected,
            ":queued": Status.QUEUED.value,
            ":now": _iso(now),
            ":due": _iso(next_due),
        }
        if reason is not None:
            update += ", #error = :reason, retrying_since = if_not_exists(retrying_since, :now)"
            values[":reason"] = reason
        return self._update(
            document_id,
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
                "ExpressionAttributeValues": {":status": status.value, ":before": _iso(before)},
            }
            while len(found) < limit:
                page = self._table.query(**query, Limit=limit - len(found))
                found.extend(_from_item(item) for item in page.get("Items", []))
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
            "#language = :language, summary_verbatim = :verbatim, llm_calls = :calls "
            "REMOVE #error, progress, chunk_summaries, " + _LEAVE_INDEX,
            "generation = :g AND summary_generation < :g",
            {
                ":g": generation,
                ":summary": summary.text,
                ":done": Status.DONE.value,
                ":model": summary.model,
                ":pt": summary.prompt_tokens,
                ":ct": summary.completion_tokens,
                ":ms": Decimal(str(summary.model_seconds)),
                ":now": _iso(now),
                ":language": summary.language,
                ":verbatim": summary.verbatim,
                ":calls": summary.llm_calls,
            },
            {"#error": "error", "#language": "language"},  # LANGUAGE is a reserved word
        )
        return saved is not None

    def mark_failed(self, document_id: str, generation: int, reason: str, now: datetime) -> bool:
        failed = self._update(
            document_id,
            "SET #status = :failed, #error = :reason, updated_at = :now REMOVE " + _LEAVE_INDEX,
            "generation = :g AND summary_generation < :g",
            {
                ":g": generation,
                ":failed": Status.FAILED.value,
                ":reason": reason,
                ":now": _iso(now),
            },
            {"#error": "error"},
        )
        return failed is not None


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


class _SqsQueue:
    """Sending with the correlation id as an attribute, retry backoff and parking: what every
    queue of the service does the same way."""

    def __init__(self, sqs: Any, queue_url: str, dead_letter_queue_url: str = "") -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def _send(self, body: str, correlation_id: str | None) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "correlation_id": {"DataType": "String", "StringValue": correlation_id or "-"}
            },
        )

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        # Best effort: without it the message simply returns after the queue's timeout.
        with contextlib.suppress(ClientError):
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=delay_seconds,
            )

    def dead_letter(self, body: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._dead_letter_queue_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256]}},
        )


class SqsWorkQueue(_SqsQueue):
    def send(self, request: SummarizeRequest) -> None:
        self._send(request.model_dump_json(exclude_none=True), request.correlation_id)


class SqsWebhookQueue(_SqsQueue):
    def enqueue(self, message: WebhookMessage) -> None:
        self._send(message.model_dump_json(exclude_none=True), message.correlation_id)


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
