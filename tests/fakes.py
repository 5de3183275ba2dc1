"""In-memory fakes of the ports, with the same conditional semantics as the AWS adapters
(tests/unit/test_aws_adapters.py runs the same contract against moto)."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from docsum.domain.document import Document, DocumentPage, Progress, Source, Status, Summary
from docsum.domain.errors import (
    ContextOverflow,
    DocumentNotFound,
    FileTooLarge,
    LLMError,
    TextMissing,
)
from docsum.domain.messages import SummarizeRequest, WebhookMessage
from docsum.domain.paging import decode_cursor, encode_cursor
from docsum.ports.llm import ChatAnswer, ChatCall
from docsum.ports.push import WebhookResponse
from docsum.ports.repository import Release
from docsum.ports.storage import PresignedPost


class ManualClock:
    """A clock the test moves: `now` is fixed until `advance`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class RecordingMetrics:
    """The `MetricsRecorder` of unit tests: what a use case recorded, by name."""

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}
        self.durations: dict[str, list[float]] = {}

    def count(self, name: str, value: float = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value

    def seconds(self, name: str, value: float) -> None:
        self.durations.setdefault(name, []).append(value)


def longest_jitter(low: float, high: float) -> float:
    """Deterministic jitter for tests: always the top of the range."""
    return high


class InMemoryTextStore:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.file_versions: dict[tuple[str, str], bytes] = {}
        self.presigned: list[tuple[str, str, int, int]] = []

    def put_text(self, key: str, text: str) -> None:
        self.objects[key] = text

    def get_text(self, key: str) -> str:
        if key not in self.objects:
            raise TextMissing(key)
        return self.objects[key]

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.files.pop(key, None)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.files[key] = data

    def post(self, key: str, data: bytes) -> str:
        """A file posted to an upload form: a new current version; its version id."""
        version = f"v{len(self.file_versions) + 1}"
        self.files[key] = self.file_versions[(key, version)] = data
        return version

    def delete_version(self, key: str, version: str) -> None:
        self.file_versions.pop((key, version), None)
        left = [data for (k, _), data in self.file_versions.items() if k == key]
        if left:
            self.files[key] = left[-1]
        else:
            self.files.pop(key, None)

    def get_bytes(self, key: str, max_bytes: int, version: str | None = None) -> bytes:
        data = self.file_versions.get((key, version)) if version else self.files.get(key)
        if data is None:
            raise TextMissing(key)
        if len(data) > max_bytes:
            raise FileTooLarge(len(data), max_bytes)
        return data

    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        self.presigned.append((key, content_type, max_bytes, expires_in))
        return PresignedPost(url="https://bucket.example/", fields={"key": key})


class InMemoryDocumentRepository:
    def __init__(self) -> None:
        self.items: dict[str, Document] = {}
        self.tombstones: set[str] = set()
        self._lock = threading.Lock()

    def create(self, document: Document) -> bool:
        with self._lock:
            current = self.items.get(document.id)
            if current is not None and not current.expired(document.created_at):
                return False
            stored = document.model_copy(deep=True)
            if stored.due_at is None:
                stored.due_at = stored.enqueued_at
            self.items[document.id] = stored
            self.tombstones.discard(document.id)
            return True

    def get(self, document_id: str) -> Document | None:
        found = self.items.get(document_id)
        return found.model_copy(deep=True) if found else None

    def delete(self, document_id: str, now: datetime) -> bool:
        with self._lock:
            if self.items.pop(document_id, None) is None:
                return False
            self.tombstones.add(document_id)
            return True

    def was_deleted(self, document_id: str) -> bool:
        return document_id in self.tombstones

    def list_owned(
        self, owner: str, limit: int, cursor: str | None, status: Status | None, now: datetime
    ) -> DocumentPage:
        # The cursor is the position (created_at, id) of the last item returned, like the index.
        ordered = sorted(
            (
                d
                for d in self.items.values()
                if d.owner == owner and not d.expired(now) and status in (None, d.status)
            ),
            key=lambda d: (d.created_at, d.id),
            reverse=True,
        )
        if cursor is not None:
            after = decode_cursor(cursor)
            ordered = [d for d in ordered if (d.created_at, d.id) < after]
        page = [d.model_copy(deep=True) for d in ordered[:limit]]
        if len(ordered) <= limit:
            return DocumentPage(items=page)
        return DocumentPage(items=page, next_cursor=encode_cursor(page[-1].created_at, page[-1].id))

    def active_work(self, owner: str, now: datetime) -> tuple[int, int]:
        active = (Status.UPLOADING, Status.QUEUED, Status.PROCESSING)
        mine = [
            d
            for d in self.items.values()
            if d.owner == owner and d.status in active and not d.expired(now)
        ]
        return len(mine), sum(d.text_chars for d in mine)

    def text_in_use(self, text_key: str) -> bool:
        return any(d.text_key == text_key for d in self.items.values())

    def _change(self, document_id: str, allowed: bool, **changes: object) -> Document | None:
        # A deleted document has no record left to change: the worker cannot recreate it.
        if not allowed or document_id not in self.items:
            return None
        current = self.items[document_id]
        self.items[document_id] = current.model_copy(update=changes, deep=True)
        return self.get(document_id)

    def request_summary(self, document_id: str, now: datetime, correlation_id: str) -> Document:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                raise DocumentNotFound(document_id)
            changed = self._change(
                document_id,
                True,
                generation=doc.generation + 1,
                status=Status.QUEUED,
                attempts=0,
                unfinished_attempts=0,
                updated_at=now,
                enqueued_at=now,
                correlation_id=correlation_id,
                error=None,
                processing_until=None,
                progress=None,
                chunk_summaries={},
                due_at=now,
                retrying_since=None,
            )
            assert changed is not None
            return changed

    def mark_enqueued(self, document_id: str, generation: int, now: datetime) -> None:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                return None
            ok = doc.generation == generation and doc.status == Status.QUEUED
            self._change(document_id, ok, enqueued_at=now, due_at=now)

    def mark_uploaded(
        self, document_id: str, now: datetime, expires_at: int | None, version: str | None
    ) -> Document | None:
        with self._lock:
            doc = self.items[document_id]
            return self._change(
                document_id,
                doc.status == Status.UPLOADING,
                status=Status.QUEUED,
                enqueued_at=now,
                updated_at=now,
                due_at=now,
                expires_at=expires_at,
                upload_version=version or doc.upload_version,
            )

    def save_extraction(
        self, document_id: str, generation: int, text_chars: int, title: str | None, source: Source
    ) -> None:
        with self._lock:
            doc = self.items[document_id]
            ok = doc.generation == generation and doc.status == Status.PROCESSING
            self._change(
                document_id, ok, text_chars=text_chars, source=source, title=title or doc.title
            )

    def claim(
        self, document_id: str, generation: int, now: datetime, lease_until: datetime
    ) -> Document | None:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                return None
            lease_free = doc.status != Status.PROCESSING or (
                doc.processing_until is not None and doc.processing_until < now
            )
            ok = (
                doc.generation == generation
                and doc.summary_generation < generation
                and doc.status != Status.FAILED
            )
            return self._change(
                document_id,
                ok and lease_free,
                status=Status.PROCESSING,
                attempts=doc.attempts + 1,
                unfinished_attempts=doc.unfinished_attempts + 1,
                processing_until=lease_until,
                updated_at=now,
                due_at=lease_until,
            )

    def save_progress(
        self, document_id: str, generation: int, progress: Progress, chunk_summaries: dict[str, str]
    ) -> bool:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                return False
            ok = doc.generation == generation and doc.status == Status.PROCESSING
            changes = {"progress": progress, "chunk_summaries": dict(chunk_summaries)}
            return self._change(document_id, ok, **changes) is not None

    def release(
        self, document_id: str, generation: int, now: datetime, how: Release
    ) -> Document | None:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                return None
            expected = Status.PROCESSING if how.held else Status.QUEUED
            ok = (
                doc.generation == generation
                and doc.summary_generation < generation
                and doc.status == expected
            )
            return self._change(
                document_id,
                ok,
                status=Status.QUEUED,
                error=how.reason,
                updated_at=now,
                processing_until=None,
                due_at=how.retry_at or now,
                retrying_since=(doc.retrying_since or now) if how.failed else doc.retrying_since,
                unfinished_attempts=0 if how.held else doc.unfinished_attempts,
            )

    def requeue(
        self, seen: Document, now: datetime, next_due: datetime, reason: str | None
    ) -> Document | None:
        with self._lock:
            doc = self.items.get(seen.id)
            if doc is None:
                return None
            ok = (
                doc.generation == seen.generation
                and doc.summary_generation < seen.generation
                and doc.status == seen.status
                and doc.due_at == (seen.due_at or seen.enqueued_at)
            )
            changes: dict[str, object] = {
                "status": Status.QUEUED,
                "updated_at": now,
                "due_at": next_due,
                "processing_until": None,
            }
            if reason is not None:
                changes |= {"error": reason, "retrying_since": doc.retrying_since or now}
            return self._change(seen.id, ok, **changes)

    def overdue(self, now: datetime, stuck_before: datetime, limit: int) -> list[Document]:
        before = {Status.PROCESSING: now, Status.QUEUED: stuck_before}
        found = [
            doc
            for doc in self.items.values()
            if doc.status in before and doc.due_at is not None and doc.due_at < before[doc.status]
        ]
        found.sort(key=lambda doc: (doc.status != Status.PROCESSING, doc.due_at or now))
        return [doc.model_copy(deep=True) for doc in found[:limit]]

    def save_summary(
        self, document_id: str, generation: int, summary: Summary, now: datetime
    ) -> bool:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                return False
            ok = (
                doc.generation == generation
                and doc.summary_generation < generation
                and doc.status != Status.FAILED  # an announced failure stays one
            )
            return (
                self._change(
                    document_id,
                    ok,
                    summary=summary.text,
                    summary_generation=generation,
                    status=Status.DONE,
                    model=summary.model,
                    prompt_tokens=summary.prompt_tokens,
                    completion_tokens=summary.completion_tokens,
                    model_seconds=summary.model_seconds,
                    language=summary.language,
                    summary_verbatim=summary.verbatim,
                    method=summary.method,
                    sentences=summary.sentences,
                    grounding=summary.grounding,
                    note=summary.note,
                    llm_calls=summary.llm_calls,
                    summarized_at=now,
                    updated_at=now,
                    error=None,
                    processing_until=None,
                    progress=None,
                    chunk_summaries={},
                    due_at=None,
                    retrying_since=None,
                )
                is not None
            )

    def mark_failed(self, document_id: str, generation: int, reason: str, now: datetime) -> bool:
        with self._lock:
            doc = self.items.get(document_id)
            if doc is None:
                return False
            ok = doc.generation == generation and doc.summary_generation < generation
            return (
                self._change(
                    document_id,
                    ok,
                    status=Status.FAILED,
                    error=reason,
                    updated_at=now,
                    processing_until=None,
                    due_at=None,
                )
                is not None
            )


class InMemoryRateLimiter:
    """The same fixed windows as the DynamoDB limiter."""

    def __init__(self, requests: int, window_seconds: int) -> None:
        self.requests = requests
        self.window = window_seconds
        self.hits: Counter[tuple[str, int]] = Counter()

    def hit(self, client: str, now: datetime) -> int | None:
        epoch = now.timestamp()
        window_start = int(epoch // self.window * self.window)
        self.hits[client, window_start] += 1
        if self.hits[client, window_start] <= self.requests:
            return None
        return max(1, math.ceil(window_start + self.window - epoch))


@dataclass
class InMemoryWorkQueue:
    """Records what the code asked for (``sent``, ``retries``, ``dead_letters``) and, like
    SQS, hands each message to one receiver at a time (tests/unit/test_work_queue_contract.py
    runs the same contract against SQS on moto). No clock: a delayed retry stays hidden."""

    sent: list[SummarizeRequest] = field(default_factory=list)
    retries: list[tuple[str, int]] = field(default_factory=list)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)
    _visible: list[str] = field(default_factory=list)
    _in_flight: dict[str, str] = field(default_factory=dict)  # receipt handle -> body
    _receipts: int = 0

    def send(self, request: SummarizeRequest) -> None:
        self.sent.append(request)
        self._visible.append(request.model_dump_json(exclude_none=True))

    def receive(self, limit: int = 10) -> list[tuple[str, str]]:
        """(body, receipt handle) of up to ``limit`` visible messages, now in flight."""
        taken, self._visible = self._visible[:limit], self._visible[limit:]
        received = []
        for body in taken:
            self._receipts += 1
            handle = f"rh-{self._receipts}"
            self._in_flight[handle] = body
            received.append((body, handle))
        return received

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        self.retries.append((receipt_handle, delay_seconds))
        if delay_seconds == 0 and receipt_handle in self._in_flight:
            self._visible.append(self._in_flight.pop(receipt_handle))

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead_letters.append((body, reason))


@dataclass
class RecordingEventPublisher:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failure: Exception | None = None

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.events.append((detail_type, dict(detail)))


@dataclass
class InMemoryWebhookQueue:
    messages: list[WebhookMessage] = field(default_factory=list)
    retries: list[tuple[str, int]] = field(default_factory=list)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)
    failure: Exception | None = None

    def enqueue(self, message: WebhookMessage) -> None:
        if self.failure is not None:
            raise self.failure
        self.messages.append(message)

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        self.retries.append((receipt_handle, delay_seconds))

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead_letters.append((body, reason))


@dataclass
class ScriptedWebhookSender:
    """Answers from a script: each item a status code or an exception to raise; records every
    request (url, addresses, body, headers)."""

    script: list[int | Exception] = field(default_factory=list)
    requests: list[tuple[str, tuple[str, ...], bytes, dict[str, str]]] = field(default_factory=list)

    def post(
        self, url: str, addresses: tuple[str, ...], body: bytes, headers: Mapping[str, str]
    ) -> WebhookResponse:
        self.requests.append((url, addresses, body, dict(headers)))
        step = self.script.pop(0) if self.script else 204
        if isinstance(step, Exception):
            raise step
        return WebhookResponse(step)


@dataclass
class ScriptedCallbackProbe:
    """The `CallbackProbe` port from a script: each item an answer or an exception to raise
    (then 405, what a POST-only receiver answers a HEAD); records every (url, addresses)."""

    script: list[WebhookResponse | Exception] = field(default_factory=list)
    probes: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def probe(self, url: str, addresses: tuple[str, ...]) -> WebhookResponse:
        self.probes.append((url, addresses))
        step = self.script.pop(0) if self.script else WebhookResponse(405)
        if isinstance(step, Exception):
            raise step
        return step


class ScriptedLanguageModel:
    """Answers from a script: each item is a reply text or an exception to raise. Records
    every call, so tests can count LLM calls and inspect the options."""

    def __init__(
        self,
        *script: str | Exception,
        name: str = "fake:1b",
        clock: ManualClock | None = None,
        call_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.script = list(script)
        self.calls: list[ChatCall] = []
        # Unscripted calls get `default_reply`, or when it is None a real (if dull) summary: the
        # opening words of the document, about half its length, so the guard accepts it.
        self.default_reply: str | None = None
        # Answers chosen by the call (e.g. by its system prompt) before the script is used.
        self.respond: Callable[[ChatCall], str | None] = lambda call: None
        self.clock = clock
        self.call_seconds = call_seconds  # each call moves `clock` on by this much

    def chat(self, call: ChatCall) -> ChatAnswer:
        self.calls.append(call)
        if self.clock is not None:
            self.clock.advance(seconds=self.call_seconds)
        chosen = self.respond(call)
        if chosen is not None:
            step: str | Exception = chosen
        elif self.script:
            step = self.script.pop(0)
        else:
            step = self.default_reply or opening_words(call)
        if isinstance(step, Exception):
            raise step
        prompt_tokens = (len(call.system) + len(call.user)) // 4
        if prompt_tokens > call.num_ctx:
            raise ContextOverflow(prompt_tokens, call.num_ctx)
        return ChatAnswer(
            text=step,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=max(1, len(step) // 4),
            model_seconds=0.5,
            done_reason="stop",
        )


def transient(kind: str = "unreachable") -> LLMError:
    return LLMError(kind, "simulated", transient=True)


def opening_words(call: ChatCall) -> str:
    """The first words of the document in `call` (inside its delimiter lines, after the
    title), about half its length, as one sentence."""
    inside = call.user.split("\n", 1)[-1].rsplit("\n", 1)[0]
    if inside.startswith("Title: "):
        inside = inside.split("\n\n", 1)[-1]
    words, kept = inside.split(), []
    while words and len(" ".join([*kept, words[0]])) <= len(inside) // 2:
        kept.append(words.pop(0))
    return " ".join(kept).rstrip(".,;:!?") + "." if kept else "Summary."
