"""DynamoDB: the summarize side's transitions of a record, each one conditional UpdateItem:
the claim (its lease, and the attempts it counts on the record), the extracted text, progress,
the release, the sweeper's overdue read and requeue, the summary and the failure."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from docsum.adapters.dynamodb_items import PENDING_INDEX, from_item, iso, numbers, update_document
from docsum.domain.document import Document, Progress, Source, Status, Summary
from docsum.ports.repository import Release

# A document that ends leaves the sweeper's and the fairness index (see dynamodb_items).
_LEAVE_INDEX = "processing_until, pending, due_at, retrying_since, active_owner"


class WorkTransitions:
    """The worker's and the sweeper's half of `DynamoDocumentRepository`: a failed condition
    means another delivery or request got there first, never an error."""

    _table: Any

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
        update_document(
            self._table,
            document_id,
            update,
            "generation = :g AND #status = :processing",
            values,
            {"#source": "source"},
        )

    def claim(
        self, document_id: str, generation: int, now: datetime, lease_until: datetime
    ) -> Document | None:
        return update_document(
            self._table,
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
        saved = update_document(
            self._table,
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
        return update_document(
            self._table,
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
        return update_document(
            self._table,
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
        saved = update_document(
            self._table,
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
        failed = update_document(
            self._table,
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
