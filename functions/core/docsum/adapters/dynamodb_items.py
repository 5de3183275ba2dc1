"""A document as a DynamoDB item and back, one conditional update of it, and the table's
indexes (template.yaml declares them; a test keeps the two in step)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from docsum.adapters.client_errors import error_is
from docsum.domain.document import Document, Status

# The table's secondary indexes (template.yaml declares them; a test keeps the two in step).
OWNER_INDEX = "by-owner"  # owner, created_at: an owner's documents, newest first
TEXT_INDEX = "by-text"  # text_key: which documents use a stored text
# The sweeper's sparse index (template.yaml: DocumentsTable's GSI): `pending` holds the status
# while a document is queued or processing and is removed when it ends, so the index holds only
# documents that can still get stuck, ordered by `due_at`.
PENDING_INDEX = "pending-due"
# Fairness (template.yaml): `active_owner` is the owner while a document is uploading, queued
# or processing, and is removed when it is done or failed, so the index holds a client's
# unfinished work only.
ACTIVE_INDEX = "active-owner"
_ACTIVE = (Status.UPLOADING, Status.QUEUED, Status.PROCESSING)


def iso(moment: datetime) -> str:
    """One fixed-width UTC format, so DynamoDB can compare timestamps as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_item(document: Document) -> dict[str, Any]:
    data = document.model_dump(exclude_none=True)
    if document.status in (Status.QUEUED, Status.PROCESSING):
        data["pending"] = document.status.value
        data.setdefault("due_at", document.enqueued_at)
    if document.status in _ACTIVE:
        data["active_owner"] = document.owner
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = iso(value)
        elif isinstance(value, StrEnum):
            data[key] = value.value
        else:
            data[key] = numbers(value)
    if not data.get("chunk_summaries"):
        data.pop("chunk_summaries", None)
    return data


def numbers(value: Any) -> Any:
    """DynamoDB takes no float: Decimal instead, nested ones too (a source's OCR confidence)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers(v) for v in value]
    return value


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


def from_item(item: dict[str, Any]) -> Document:
    data = _plain(item)
    data.pop("pending", None)  # the sweeper's index key, derived from the status
    data.pop("active_owner", None)  # the fairness index key, from the status and owner
    return Document.model_validate(data)


def update_document(
    table: Any,
    document_id: str,
    update: str,
    condition: str,
    values: dict[str, Any],
    names: dict[str, str] | None = None,
) -> Document | None:
    """One conditional UpdateItem; the document as it is now, or None when the condition
    failed (another delivery or request got there first: never an error)."""
    try:
        result = table.update_item(
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
