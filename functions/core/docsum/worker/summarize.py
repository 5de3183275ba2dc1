"""Summarize-side use case: one SQS delivery of a `SummarizeRequest`.

SQS delivers at least once and retries what fails, so every step is idempotent and every
state change a conditional write. What the worker does with each kind of failure:
- transient (LLM unreachable, 5xx, timeout, or an unexpected error): back to `queued` with a
  stable reason, the message made visible again after a jittered backoff that grows with how
  long the document has been failing, and reported failed, so SQS redelivers it. Once it has
  failed for `retry_window_seconds` the document is `failed` and the message parked in the DLQ;
  maxReceiveCount is only a backstop, sized to the window;
- the model host is down (one call found it unreachable): a shared circuit breaker puts every
  other delivery back until the host is probed again, without calling it;
- out of time (the invocation's deadline): finished chunk summaries are kept, the document
  goes back to `queued` and a fresh message continues it later;
- permanent, for a known document (text missing, text too long for the model, no answer
  passed the guard even after its retry): `failed` with the reason, message consumed
  (retrying cannot help; re-summarize is the way back);
- a poison document, whose workers died without a word (timeout, out of memory)
  `max_worker_deaths` times: each claim counts on the record, each attempt that ends on its
  own resets the count, so the claim after the last death sees it and fails the document;
- `failed` and `done` are final for their generation: later deliveries (redriven from the DLQ,
  re-sent) are consumed without work; only a re-summarize (a new generation) starts again;
- a message that cannot be processed at all (malformed, unknown document): parked in the DLQ
  at once, its document (if it can be identified) marked `failed`;
- duplicate or stale deliveries, and deliveries for a deleted or expired document: consumed
  without an LLM call (a delete always wins over a summarization in flight: every write below
  is conditional on a record the delete has replaced by a tombstone; what a summarization in
  flight then runs into, the missing text or a refused write, is dropped, not a failure). A long
  summary whose progress write is refused (deleted, or asked again) stops at that chunk.

Files: the S3 notification of an arrived presigned upload comes through the same queue;
`summarize_queue` turns it into a request for the document's current generation (see
`docsum.intake.uploads`), so the worker sees only summarize requests. A file's text is
extracted on its first claim (bounded, in a child process the OS bounds: a file that cannot be
read ends `failed` with the reason, never retried) and stored beside the JSON texts.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from docsum.domain.document import DOCUMENT_ID_PATTERN, Document, Progress, Status, utc_now
from docsum.domain.errors import (
    HOST_DOWN_KINDS,
    ContextOverflow,
    DeadlineReached,
    DocsumError,
    FileTooLarge,
    GuardRejected,
    LLMError,
    NoProgressInTime,
    TextMissing,
    WorkSuperseded,
    gave_up,
    stopped_the_worker,
)
from docsum.domain.messages import SummarizeRequest
from docsum.extract.fetch import no_page_fetcher
from docsum.extract.kinds import UnsupportedFileType
from docsum.extract.limits import ExtractionFailed
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.observability import EMF_METRICS, logger
from docsum.platform.retry import CircuitBreaker, Deadline, Jitter
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.pages import PageSource
from docsum.ports.push import CompletionNotifier
from docsum.ports.queues import WorkQueue
from docsum.ports.repository import DocumentRepository, Release
from docsum.ports.storage import TextStore
from docsum.push.events import NoNotifications
from docsum.summary.map_reduce import PartialResults
from docsum.summary.summarizer import Summarizer
from docsum.worker.file_text import FileText
from docsum.worker.outcomes import DELETED_WHILE_SUMMARIZED, MALFORMED, Outcome
from docsum.worker.policy import WorkerPolicy


class SummarizeWorker:
    def __init__(
        self,
        store: TextStore,
        repository: DocumentRepository,
        queue: WorkQueue,
        summarizer: Summarizer,
        settings: WorkerPolicy,
        clock: Callable[[], datetime] = utc_now,
        metrics: MetricsRecorder = EMF_METRICS,
        jitter: Jitter = random.uniform,
        *,
        notifier: CompletionNotifier | None = None,
        pages: Callable[[], PageSource] | None = None,
    ) -> None:
        """`pages`: makes the page source (wiring gives the real one; None: no URL documents)."""
        self._store = store
        self._repository = repository
        self._queue = queue
        self._summarizer = summarizer
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._file_text = FileText(
            store,
            repository,
            settings.extraction_limits(),
            settings.sandbox_limits(),
            settings.max_upload_bytes,
            metrics,
            functools.cache(pages or no_page_fetcher),
        )
        self._jitter = jitter
        # One per worker (a Lambda sandbox): every delivery it handles shares what it knows.
        self.breaker = CircuitBreaker(
            settings.retry_base_seconds, settings.retry_max_seconds, clock, jitter
        )
        self._notifier = notifier or NoNotifications()

    def process(self, delivery: Delivery, lease_seconds: float) -> Outcome:
        """One summarize message. `lease_seconds`: how long this invocation can still run;
        another worker may take the document over only after that (a crashed worker's lease
        simply expires)."""
        try:
            request = SummarizeRequest.model_validate_json(delivery.body)
        except ValidationError as exc:
            return self._park_malformed(delivery, exc)
        return self.process_request(request, delivery, lease_seconds)

    def process_request(
        self, request: SummarizeRequest, delivery: Delivery, lease_seconds: float
    ) -> Outcome:
        """`request`, from `delivery`'s message or from the S3 event of an arrived upload."""
        logger.set_correlation_id(request.correlation_id)
        logger.append_keys(document_id=request.document_id, generation=request.generation)
        try:
            return self._process(request, delivery, lease_seconds)
        finally:
            logger.remove_keys(["document_id", "generation"])

    def _process(
        self, request: SummarizeRequest, delivery: Delivery, lease_seconds: float
    ) -> Outcome:
        document = self._repository.get(request.document_id)
        if (document is None and self._repository.was_deleted(request.document_id)) or (
            document is not None and document.expired(self._clock())
        ):
            return self._gone("document deleted or expired: message consumed")
        if document is None:
            self._queue.dead_letter(delivery.body, "unknown document")
            logger.error("message for an unknown document parked in the DLQ")
            return Outcome.PARKED
        skip = self._skip_reason(document, request)
        if skip is not None:
            if skip is Outcome.DUPLICATE and document.finished:
                # Perhaps the delivery that stored it died before notifying: notify (again).
                self._notifier.document_finished(document)
            return skip

        if not self.breaker.allow():
            # The host was found down moments ago: no probe per document, come back later.
            circuit_open = LLMError("unreachable", "circuit breaker open", transient=True)
            return self._retry_or_fail(document, request, delivery, circuit_open, held=False)

        now = self._clock()
        claimed = self._repository.claim(
            document.id, request.generation, now, now + timedelta(seconds=lease_seconds)
        )
        if claimed is None:
            return self._not_claimed(request, delivery)
        deaths = claimed.unfinished_attempts - 1  # the claims before this one never ended
        if deaths >= self._settings.max_worker_deaths:
            reason = stopped_the_worker(deaths)
            return self._fail(claimed, request, reason, RuntimeError(reason))
        deadline = Deadline(
            now + timedelta(seconds=lease_seconds),
            self._settings.deadline_margin_seconds,
            self._clock,
        )

        try:
            text, title, pages = self._file_text.text_of(claimed, request.generation)

            # Chunk summaries of an earlier attempt are reused; new ones are stored as they come.
            def keep(progress: Progress, chunks: dict[str, str]) -> None:
                if not self._repository.save_progress(
                    claimed.id, request.generation, progress, chunks
                ):
                    raise WorkSuperseded()  # no new model call starts: the calls in flight end

            partials = PartialResults(dict(claimed.chunk_summaries), keep)
            summary = self._summarizer.summarize(
                text, title, partials, deadline, claimed.options, pages
            )
        except Exception as exc:
            # A delete while the worker works removes the text too: that is no failure.
            if self._repository.was_deleted(claimed.id):
                return self._gone(DELETED_WHILE_SUMMARIZED)
            return self._after_error(claimed, request, delivery, deadline, exc)
        self.breaker.host_up()

        self._count_guard(summary.guard_outcomes)
        if not self._repository.save_summary(
            claimed.id, request.generation, summary, self._clock()
        ):
            if self._repository.was_deleted(claimed.id):
                return self._gone(DELETED_WHILE_SUMMARIZED)
            logger.info("summary not saved: a newer request or summary exists")
            return Outcome.SUPERSEDED
        self._record_done(
            claimed, summary.model_seconds, summary.prompt_tokens, summary.completion_tokens
        )
        self._notify_finished(claimed.id)
        logger.info(
            "summary stored",
            extra={
                "summary_chars": len(summary.text),
                "model": summary.model,
                "model_seconds": summary.model_seconds,
            },
        )
        return Outcome.DONE

    def _after_error(
        self,
        claimed: Document,
        request: SummarizeRequest,
        delivery: Delivery,
        deadline: Deadline,
        exc: Exception,
    ) -> Outcome:
        """What a failed summarization of a live document comes to: `failed` when another try
        cannot help, a retry when it may, a pause when time ran out after some progress."""
        match exc:
            case WorkSuperseded():
                logger.info("work stopped: a newer request exists")
                return Outcome.SUPERSEDED
            case TextMissing() | ContextOverflow():
                return self._fail(claimed, request, exc.reason, exc)
            case GuardRejected():  # already retried once: another try would cost the same
                self._count_guard(exc.outcomes)
                # The reason quotes the answer: the record keeps it, the log names the checks.
                checks = ", ".join(dict.fromkeys(p.check.value for p in exc.problems))
                return self._fail(claimed, request, str(exc), exc, logged=f"guard: {checks}")
            case ExtractionFailed() | UnsupportedFileType() | FileTooLarge():
                return self._fail(claimed, request, str(exc), exc)  # readable by design
            case DeadlineReached() if not deadline.progressed:
                return self._retry_or_fail(claimed, request, delivery, NoProgressInTime())
            case DeadlineReached():
                return self._pause(claimed, request, exc)
            case LLMError():
                self._metrics.count(f"LLMErrors_{exc.kind}")
                if exc.kind in HOST_DOWN_KINDS:
                    self.breaker.host_down()
                if not exc.transient:
                    return self._fail(claimed, request, exc.reason, exc)
                return self._retry_or_fail(claimed, request, delivery, exc)
            case _:  # a bug or an unforeseen outage: retry, then the DLQ
                logger.exception("unexpected error")  # still inside the caller's `except`
                return self._retry_or_fail(claimed, request, delivery, exc)

    def _gone(self, why: str) -> Outcome:
        logger.info(why)
        self._metrics.count("DeletedDocumentDeliveries")
        return Outcome.GONE

    def _skip_reason(self, document: Document, request: SummarizeRequest) -> Outcome | None:
        if request.generation < document.generation:
            logger.info("stale message: a newer summarize request exists")
            return Outcome.STALE
        if document.summary_generation >= request.generation:
            logger.info("duplicate delivery: already summarized")
            self._metrics.count("DuplicateDeliveries")
            return Outcome.DUPLICATE
        if document.status is Status.FAILED and document.generation == request.generation:
            logger.info("delivery for a failed document: final until it is summarized again")
            self._metrics.count("DuplicateDeliveries")
            return Outcome.DUPLICATE
        return None

    def _not_claimed(self, request: SummarizeRequest, delivery: Delivery) -> Outcome:
        current = self._repository.get(request.document_id)
        if current is None and self._repository.was_deleted(request.document_id):
            return self._gone("document deleted meanwhile: message consumed")
        if current is not None:
            skip = self._skip_reason(current, request)
            if skip is not None:
                return skip
        # Another live worker holds the lease. Come back when it ends: by then that worker has
        # finished (this delivery is then a duplicate) or died (this delivery takes over).
        lease_end = current.processing_until if current is not None else None
        wait = (lease_end - self._clock()).total_seconds() if lease_end else 0
        delay = self._settings.lease_wait(wait)
        self._queue.retry_later(delivery.receipt_handle, delay)
        logger.info("being summarized by another worker", extra={"retry_in_seconds": delay})
        raise RetryLater("in progress elsewhere")

    def _retry_or_fail(
        self,
        document: Document,
        request: SummarizeRequest,
        delivery: Delivery,
        exc: Exception,
        held: bool = True,
    ) -> Outcome:
        """A transient failure: retry after a jittered backoff that grows with how long the
        document has been failing, until `retry_window_seconds`; then `failed` and the DLQ.
        `held`: this delivery claimed the document (else it never called the host)."""
        reason = exc.reason if isinstance(exc, DocsumError) else DocsumError.reason
        now = self._clock()
        failing_for = (now - (document.retrying_since or now)).total_seconds()
        attempt = delivery.receive_count
        s = self._settings
        if failing_for >= s.retry_window_seconds:
            self._fail(document, request, gave_up(reason, s.retry_window_seconds), exc)
            self._queue.dead_letter(delivery.body, reason)
            return Outcome.FAILED
        if attempt >= s.max_receive_count:  # a backstop: the window should end first
            self._fail(document, request, f"gave up after {attempt} attempts: {reason}", exc)
            # Visible at once, so SQS moves it to the DLQ now rather than after the timeout.
            self._queue.retry_later(delivery.receipt_handle, 0)
            raise RetryLater(reason)
        if isinstance(exc, LLMError) and exc.kind in HOST_DOWN_KINDS:
            # The wake-up signal of hosts scaled to zero (template.yaml: ModelHostWakeUpAlarm).
            self._metrics.count("HeldForModelHost")
        if held:
            delay = s.retry_delay(failing_for, self._jitter)
        else:  # wait for the breaker's probe, spread over half its period again
            delay = max(1, math.ceil(self.breaker.open_seconds() * self._jitter(1.0, 1.5)))
        retry_at = now + timedelta(seconds=delay)
        how = Release(reason, retry_at=retry_at, held=held)
        self._repository.release(document.id, request.generation, now, how)
        self._queue.retry_later(delivery.receipt_handle, delay)
        logger.warning(
            "transient failure, retrying",
            extra={
                "attempt": attempt,
                "retry_in_seconds": delay,
                "reason": reason,
                "detail": str(exc),
                "called_host": held,
            },
        )
        raise RetryLater(reason)

    def _pause(
        self, document: Document, request: SummarizeRequest, exc: DeadlineReached
    ) -> Outcome:
        """Out of time: what is done is stored; a fresh message (not a redelivery, so no
        receive is spent) continues the document in another invocation."""
        now = self._clock()
        paused = Release(exc.reason, failed=False, held=True)
        self._repository.release(document.id, request.generation, now, paused)
        self._queue.send(request.model_copy(update={"enqueued_at": now}))
        logger.info("out of time: paused, a new message resumes it")
        return Outcome.PAUSED

    def _park_malformed(self, delivery: Delivery, exc: ValidationError) -> Outcome:
        detail = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        self._queue.dead_letter(delivery.body, f"{MALFORMED}: {detail}")
        self._metrics.count("MalformedMessages")
        logger.error(
            "malformed message parked in the DLQ",
            extra={"message_id": delivery.message_id, "detail": detail},
        )
        document = self._identify(delivery.body)
        if document is not None and self._repository.mark_failed(
            document.id, document.generation, MALFORMED, self._clock()
        ):
            self._notify_finished(document.id)
        return Outcome.PARKED

    def _identify(self, body: str) -> Document | None:
        """The document a malformed message names, if it names one that exists."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        doc_id = data.get("document_id") if isinstance(data, dict) else None
        if not isinstance(doc_id, str) or not re.fullmatch(DOCUMENT_ID_PATTERN, doc_id):
            return None
        return self._repository.get(doc_id)

    def _fail(
        self,
        document: Document,
        request: SummarizeRequest,
        reason: str,
        exc: Exception,
        *,
        logged: str | None = None,
    ) -> Outcome:
        """`failed` with a stable `reason`; the exception's own text goes to the log only,
        unless `logged` stands in for both (a reason that quotes document or model text)."""
        failed = self._repository.mark_failed(
            document.id, request.generation, reason, self._clock()
        )
        self._metrics.count("SummariesFailed")
        details = {"reason": logged} if logged else {"reason": reason, "detail": str(exc)}
        logger.error("summarization failed", extra=details)
        if failed:
            self._notify_finished(document.id)
        return Outcome.FAILED

    def _notify_finished(self, document_id: str) -> None:
        """Events and webhooks carry the stored final state, read back after the write."""
        try:
            document = self._repository.get(document_id)
        except Exception:
            logger.exception("finished document not read back: no notification")
            return
        if document is not None and document.finished:
            self._notifier.document_finished(document)

    def _count_guard(self, outcomes: dict[str, int]) -> None:
        """`Guard_<outcome>` per answer (passed, retry_passed, salvaged, …) and
        `Guard_check_<check>` per check an answer failed."""
        for outcome, times in outcomes.items():
            self._metrics.count(f"Guard_{outcome}", times)

    def _record_done(
        self, document: Document, model_seconds: float, prompt_tokens: int, completion_tokens: int
    ) -> None:
        self._metrics.count("SummariesCompleted")
        end_to_end = (self._clock() - document.enqueued_at).total_seconds()
        self._metrics.seconds("EndToEndLatency", end_to_end)
        self._metrics.seconds("ModelTime", model_seconds)
        self._metrics.count("PromptTokens", prompt_tokens)
        self._metrics.count("CompletionTokens", completion_tokens)


__all__ = ["SummarizeWorker"]
