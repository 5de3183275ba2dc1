"""S3, DynamoDB and SQS adapters (boto3; `AWS_ENDPOINT_URL` points them at moto or LocalStack)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from docsum.errors import DocumentNotFound, TextMissing
from docsum.models import Document, Progress, Status, SummarizeRequest, Summary


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


def _iso(moment: datetime) -> str:
    """One fixed-width UTC format, so DynamoDB can compare timestamps as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_item(document: Document) -> dict[str, Any]:
    data = document.model_dump(exclude_none=True)
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
    return Document.model_validate(_plain(item))


class DynamoDocumentRepository:
    """Each transition is one conditional UpdateItem; a failed condition means another
    delivery or request got there first, never an error."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, document: Document) -> bool:
        try:
            self._table.put_item(
                Item=_to_item(document), ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as exc:
            if _is(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def get(self, document_id: str) -> Document | None:
        item = self._table.get_item(Key={"id": document_id}, ConsistentRead=True).get("Item")
        return _from_item(item) if item else None

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
            "updated_at = :now, enqueued_at = :now, correlation_id = :cid "
            "REMOVE #error, processing_until, progress, chunk_summaries",
            "attribute_exists(id)",
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
            "SET enqueued_at = :now",
            "generation = :g",
            {":g": generation, ":now": _iso(now)},
        )

    def claim(
        self, document_id: str, generation: int, now: datetime, lease_until: datetime
    ) -> Document | None:
        return self._update(
            document_id,
            "SET #status = :processing, attempts = attempts + :one, processing_until = :lease, "
            "updated_at = :now",
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
    ) -> None:
        self._update(
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

    def release(self, document_id: str, generation: int, now: datetime, reason: str) -> None:
        self._update(
            document_id,
            "SET #status = :queued, #error = :reason, updated_at = :now REMOVE processing_until",
            "generation = :g AND #status = :processing",
            {
                ":g": generation,
                ":queued": Status.QUEUED.value,
                ":reason": reason,
                ":now": _iso(now),
                ":processing": Status.PROCESSING.value,
            },
            {"#error": "error"},
        )

    def save_summary(
        self, document_id: str, generation: int, summary: Summary, now: datetime
    ) -> bool:
        saved = self._update(
            document_id,
            "SET summary = :summary, summary_generation = :g, #status = :done, "
            "model = :model, prompt_tokens = :pt, completion_tokens = :ct, "
            "model_seconds = :ms, summarized_at = :now, updated_at = :now "
            "REMOVE #error, processing_until, progress, chunk_summaries",
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
            },
            {"#error": "error"},
        )
        return saved is not None

    def mark_failed(self, document_id: str, generation: int, reason: str, now: datetime) -> bool:
        failed = self._update(
            document_id,
            "SET #status = :failed, #error = :reason, updated_at = :now REMOVE processing_until",
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


class SqsWorkQueue:
    def __init__(self, sqs: Any, queue_url: str, dead_letter_queue_url: str = "") -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def send(self, request: SummarizeRequest) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=request.model_dump_json(exclude_none=True),
            MessageAttributes={
                "correlation_id": {
                    "DataType": "String",
                    "StringValue": request.correlation_id or "-",
                }
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
