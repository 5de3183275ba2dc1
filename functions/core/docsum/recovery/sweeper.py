"""The sweeper's use case: find documents nobody will finish and set them going again.

Two things can strand a document where no delivery will ever come for it:
- a worker that stopped without a word (Lambda timeout, out of memory) on the message's last
  delivery: the message went to the DLQ, the document stays `processing` with an expired lease;
- a message that was never sent, or was lost (a crash between the DynamoDB write and the SQS
  send): the document stays `queued`.

Every run (an EventBridge schedule) reads the overdue documents from the table's sparse
`pending` index (never a scan), puts each back to `queued` with a conditional write (two
sweepers, or a sweeper and a worker, never both win) and sends it a fresh message. Extra
messages are harmless: generations and leases dedupe them. A document that has been failing
for longer than the retry window is `failed` instead. A re-sent `queued` document is looked at
again only after as long as it has waited so far, so a long backlog gets a few duplicates,
not one per sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from docsum.domain.document import Document, Status, utc_now
from docsum.domain.errors import LEASE_EXPIRED, gave_up
from docsum.domain.messages import SummarizeRequest
from docsum.platform.observability import EMF_METRICS, logger
from docsum.platform.settings import SettingsSlice
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.push import CompletionNotifier
from docsum.ports.queues import WorkQueue
from docsum.ports.repository import DocumentRepository
from docsum.push.events import NoNotifications, notify_finished

WORKER_LOST = "worker stopped before finishing"


@dataclass(frozen=True)
class SweepPolicy(SettingsSlice):
    """When a document counts as stuck, how many one run takes, when retrying ends."""

    sweep_stuck_after_seconds: int
    sweep_batch_size: int
    retry_window_seconds: int


@dataclass
class SweepReport:
    resent: list[str] = field(default_factory=list)  # queued, message re-sent
    recovered: list[str] = field(default_factory=list)  # lease expired, back to queued
    failed: list[str] = field(default_factory=list)  # past the retry window

    def as_dict(self) -> dict[str, int]:
        return {
            "resent": len(self.resent),
            "recovered": len(self.recovered),
            "failed": len(self.failed),
        }


class Sweeper:
    def __init__(
        self,
        repository: DocumentRepository,
        queue: WorkQueue,
        settings: SweepPolicy,
        clock: Callable[[], datetime] = utc_now,
        metrics: MetricsRecorder = EMF_METRICS,
        *,
        notifier: CompletionNotifier | None = None,
    ) -> None:
        self._repository = repository
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._notifier = notifier or NoNotifications()

    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self._clock()
        stuck_before = now - timedelta(seconds=self._settings.sweep_stuck_after_seconds)
        for document in self._repository.overdue(
            now, stuck_before, self._settings.sweep_batch_size
        ):
            self._sweep_one(document, now, report)
        logger.info("sweep done", extra=report.as_dict())
        return report

    def _sweep_one(self, document: Document, now: datetime, report: SweepReport) -> None:
        lease_expired = document.lease_expired(now)
        window = timedelta(seconds=self._settings.retry_window_seconds)
        if document.retrying_since is not None and now - document.retrying_since >= window:
            last = WORKER_LOST if lease_expired else (document.error or WORKER_LOST)
            reason = gave_up(last, self._settings.retry_window_seconds)
            if self._repository.mark_failed(document.id, document.generation, reason, now):
                self._metrics.count("SummariesFailed")
                report.failed.append(document.id)
                logger.error("swept: failed", extra={"document_id": document.id})
                notify_finished(self._repository, self._notifier, document.id)  # as the worker
            return
        if document.status is Status.PROCESSING and not lease_expired:
            return  # a live worker took it since the query
        # Look again after as long as it has waited so far: re-sends thin out exponentially.
        next_due = now + max(now - document.enqueued_at, timedelta(0))
        shown = LEASE_EXPIRED if lease_expired else None
        requeued = self._repository.requeue(document, now, next_due, shown)
        if requeued is None:
            return  # changed since the query: whoever changed it is in charge
        self._queue.send(
            SummarizeRequest(
                document_id=document.id,
                generation=document.generation,
                correlation_id=document.correlation_id,
                enqueued_at=now,
            )
        )
        (report.recovered if lease_expired else report.resent).append(document.id)
        self._metrics.count("SweptDocuments")
        logger.warning(
            "swept: message re-sent",
            extra={"document_id": document.id, "lease_expired": lease_expired},
        )


__all__ = ["SweepReport", "Sweeper"]
