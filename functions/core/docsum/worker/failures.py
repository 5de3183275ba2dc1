"""What a delivery comes to when it ends without a stored summary, each recorded on the
document, counted and logged:
- transient (LLM unreachable, 5xx, timeout, or an unexpected error): back to `queued` with a
  stable reason, the message made visible again after a jittered backoff that grows with how
  long the document has been failing, and reported failed, so SQS redelivers it. Once it has
  failed for `retry_window_seconds` the document is `failed` and the message parked in the DLQ;
  maxReceiveCount is only a backstop, sized to the window;
- out of time (the invocation's deadline): finished chunk summaries are kept, the document
  goes back to `queued` and a fresh message continues it later;
- permanent, for a known document (text missing, text too long for the model, no answer
  passed the guard even after its retry, a file that cannot be read): `failed` with the
  reason, message consumed (retrying cannot help; re-summarize is the way back), and notified;
- a message that cannot be processed at all (malformed): parked in the DLQ at once, its
  document (if it can be identified) marked `failed`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from docsum.domain.document import DOCUMENT_ID_PATTERN, Document
from docsum.domain.errors import (
    HOST_DOWN_KINDS,
    ContextOverflow,
    DeadlineReached,
    DocsumError,
    FileTooLarge,
    GuardRejected,
    LLMError,
    NoProgressInTime,
    PageFetchUnavailable,
    TextMissing,
    WorkSuperseded,
    gave_up,
)
from docsum.domain.messages import SummarizeRequest
from docsum.extract.kinds import UnsupportedFileType
from docsum.extract.limits import ExtractionFailed
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.observability import logger
from docsum.platform.retry import CircuitBreaker, Deadline, Jitter
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.push import CompletionNotifier
from docsum.ports.queues import WorkQueue
from docsum.ports.repository import DocumentRepository, Release
from docsum.push.events import notify_finished
from docsum.worker.outcomes import MALFORMED, Outcome, count_guard
from docsum.worker.policy import WorkerPolicy


class Failures:
    """The failure paths of `SummarizeWorker`; `breaker` is the worker's (every delivery of a
    worker shares what it knows of the model host)."""

    def __init__(
        self,
        repository: DocumentRepository,
        queue: WorkQueue,
        settings: WorkerPolicy,
        clock: Callable[[], datetime],
        metrics: MetricsRecorder,
        jitter: Jitter,
        breaker: CircuitBreaker,
        notifier: CompletionNotifier,
    ) -> None:
        self._repository = repository
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._jitter = jitter
        self._breaker = breaker
        self._notifier = notifier

    def after_error(
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
                return self.fail(claimed, request, exc.reason, exc)
            case GuardRejected():  # already retried once: another try would cost the same
                count_guard(self._metrics, exc.outcomes)
                # The reason quotes the answer: the record keeps it, the log names the checks.
                checks = ", ".join(dict.fromkeys(p.check.value for p in exc.problems))
                return self.fail(claimed, request, str(exc), exc, logged=f"guard: {checks}")
            case ExtractionFailed() | UnsupportedFileType() | FileTooLarge():
                return self.fail(claimed, request, str(exc), exc)  # readable by design
            case DeadlineReached() if not deadline.progressed:
                return self.retry_or_fail(claimed, request, delivery, NoProgressInTime())
            case DeadlineReached():
                return self._pause(claimed, request, exc)
            case LLMError():
                self._metrics.count(f"LLMErrors_{exc.kind}")
                if exc.kind in HOST_DOWN_KINDS:
                    self._breaker.host_down()
                if not exc.transient:
                    return self.fail(claimed, request, exc.reason, exc)
                return self.retry_or_fail(claimed, request, delivery, exc)
            case PageFetchUnavailable():  # the fetch function, not the page: an outage
                return self.retry_or_fail(claimed, request, delivery, exc)
            case _:  # a bug or an unforeseen outage: retry, then the DLQ
                logger.exception("unexpected error")  # still inside the caller's `except`
                return self.retry_or_fail(claimed, request, delivery, exc)

    def retry_or_fail(
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
            self.fail(document, request, gave_up(reason, s.retry_window_seconds), exc)
            self._queue.dead_letter(delivery.body, reason)
            return Outcome.FAILED
        if attempt >= s.max_receive_count:  # a backstop: the window should end first
            self.fail(document, request, f"gave up after {attempt} attempts: {reason}", exc)
            # Visible at once, so SQS moves it to the DLQ now rather than after the timeout.
            self._queue.retry_later(delivery.receipt_handle, 0)
            raise RetryLater(reason)
        if isinstance(exc, LLMError) and exc.kind in HOST_DOWN_KINDS:
            # The wake-up signal of hosts scaled to zero (template.yaml: ModelHostWakeUpAlarm).
            self._metrics.count("HeldForModelHost")
        if held:
            delay = s.retry_delay(failing_for, self._jitter)
        else:  # wait for the breaker's probe, spread over half its period again
            delay = max(1, math.ceil(self._breaker.open_seconds() * self._jitter(1.0, 1.5)))
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

    def park_malformed(self, delivery: Delivery, exc: ValidationError) -> Outcome:
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
            notify_finished(self._repository, self._notifier, document.id)
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

    def fail(
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
            notify_finished(self._repository, self._notifier, document.id)
        return Outcome.FAILED
