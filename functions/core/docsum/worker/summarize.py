"""Summarize-side use case: one SQS delivery of a `SummarizeRequest`.

SQS delivers at least once and retries what fails, so every step is idempotent and every
state change a conditional write. What a failure comes to (`failed`, a retry after a backoff,
a pause, the DLQ) is `docsum.worker.failures`; here:
- the model host is down (one call found it unreachable): a shared circuit breaker puts every
  other delivery back until the host is probed again, without calling it;
- a poison document, whose workers died without a word (timeout, out of memory)
  `max_worker_deaths` times: each claim counts on the record, each attempt that ends on its
  own resets the count, so the claim after the last death sees it and fails the document;
- `failed` and `done` are final for their generation: later deliveries (redriven from the DLQ,
  re-sent) are consumed without work; only a re-summarize (a new generation) starts again;
- a message for an unknown document: parked in the DLQ at once;
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
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from docsum.domain.document import Document, Progress, Status, utc_now
from docsum.domain.errors import LLMError, WorkSuperseded, stopped_the_worker
from docsum.domain.messages import SummarizeRequest
from docsum.extract.fetch import no_page_fetcher
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.observability import EMF_METRICS, logger
from docsum.platform.retry import CircuitBreaker, Deadline, Jitter
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.pages import PageSource
from docsum.ports.push import CompletionNotifier
from docsum.ports.queues import WorkQueue
from docsum.ports.repository import DocumentRepository
from docsum.ports.storage import TextStore
from docsum.push.events import NoNotifications, notify_finished
from docsum.summary.map_reduce import PartialResults
from docsum.summary.summarizer import Summarizer
from docsum.worker.failures import Failures
from docsum.worker.file_text import FileText
from docsum.worker.outcomes import DELETED_WHILE_SUMMARIZED, Outcome, count_guard
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
        # One per worker (a Lambda sandbox): every delivery it handles shares what it knows.
        self.breaker = CircuitBreaker(
            settings.retry_base_seconds, settings.retry_max_seconds, clock, jitter
        )
        self._notifier = notifier or NoNotifications()
        self._failures = Failures(
            repository, queue, settings, clock, metrics, jitter, self.breaker, self._notifier
        )

    def process(self, delivery: Delivery, lease_seconds: float) -> Outcome:
        """One summarize message. `lease_seconds`: how long this invocation can still run;
        another worker may take the document over only after that (a crashed worker's lease
        simply expires)."""
        try:
            request = SummarizeRequest.model_validate_json(delivery.body)
        except ValidationError as exc:
            return self._failures.park_malformed(delivery, exc)
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
            return self._failures.retry_or_fail(
                document, request, delivery, circuit_open, held=False
            )

        now = self._clock()
        claimed = self._repository.claim(
            document.id, request.generation, now, now + timedelta(seconds=lease_seconds)
        )
        if claimed is None:
            return self._not_claimed(request, delivery)
        deaths = claimed.unfinished_attempts - 1  # the claims before this one never ended
        if deaths >= self._settings.max_worker_deaths:
            reason = stopped_the_worker(deaths)
            return self._failures.fail(claimed, request, reason, RuntimeError(reason))
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
            return self._failures.after_error(claimed, request, delivery, deadline, exc)
        self.breaker.host_up()

        count_guard(self._metrics, summary.guard_outcomes)
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
        notify_finished(self._repository, self._notifier, claimed.id)
        logger.info(
            "summary stored",
            extra={
                "summary_chars": len(summary.text),
                "model": summary.model,
                "model_seconds": summary.model_seconds,
            },
        )
        return Outcome.DONE

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
