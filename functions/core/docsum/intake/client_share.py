"""Each client's share of the queue: a submission or re-summarize that would take a client past
it is refused (`ClientBusy`, a 429), so one client cannot fill the queue for everyone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from docsum.domain.errors import ClientBusy
from docsum.platform.settings import SettingsSlice
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.repository import DocumentRepository


@dataclass(frozen=True)
class ShareLimits(SettingsSlice):
    """A client's share: documents uploading, queued or in progress, and characters queued or
    in progress (0: no cap); how long a refused client is told to wait."""

    max_active_documents_per_client: int
    max_active_chars_per_client: int
    busy_retry_after_seconds: int


class ClientShare:
    def __init__(
        self,
        limits: ShareLimits,
        repository: DocumentRepository,
        clock: Callable[[], datetime],
        metrics: MetricsRecorder,
    ) -> None:
        self._limits = limits
        self._repository = repository
        self._clock = clock
        self._metrics = metrics

    def check(self, owner: str, adding_chars: int) -> None:
        """`ClientBusy` when one more document (of `adding_chars`) would take `owner` past
        its share of the queue."""
        s = self._limits
        if not (s.max_active_documents_per_client or s.max_active_chars_per_client):
            return  # no share set: no query either
        documents, chars = self._repository.active_work(owner, self._clock())
        if s.max_active_documents_per_client and documents >= s.max_active_documents_per_client:
            busy = (
                f"{documents} documents are uploading, queued or in progress; "
                f"MAX_ACTIVE_DOCUMENTS_PER_CLIENT is {s.max_active_documents_per_client}"
            )
        elif s.max_active_chars_per_client and chars + adding_chars > s.max_active_chars_per_client:
            busy = (
                f"{chars} characters are queued or in progress and this adds {adding_chars}; "
                f"MAX_ACTIVE_CHARS_PER_CLIENT is {s.max_active_chars_per_client}"
            )
        else:
            return
        self._metrics.count("ClientBusy")
        raise ClientBusy(f"{busy}: retry once some are done", s.busy_retry_after_seconds)
