"""A presigned upload's file arrived (its S3 event): the document goes from `uploading` to
`queued`, its retention starts now, and it becomes a summarize request like any other."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from docsum.domain.document import DOCUMENT_ID_PATTERN, UPLOADS_PREFIX, retention_end, utc_now
from docsum.domain.messages import SummarizeRequest
from docsum.platform.observability import logger
from docsum.ports.repository import DocumentRepository


class UploadArrivals:
    def __init__(
        self,
        repository: DocumentRepository,
        retention_days: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repository = repository
        self._retention_days = retention_days
        self._clock = clock

    def arrived(self, key: str, size: int) -> SummarizeRequest | None:
        """The request that summarizes the uploaded document; None when `key` is no upload
        of a known document (its record expired, or no upload announced the object). A
        repeated event finds the document already queued: it is then a plain redelivery."""
        doc_id = key.removeprefix(UPLOADS_PREFIX)
        known = key.startswith(UPLOADS_PREFIX) and re.fullmatch(DOCUMENT_ID_PATTERN, doc_id)
        document = self._repository.get(doc_id) if known else None
        if document is None:
            logger.warning("S3 event for no known upload", extra={"key": key[:200]})
            return None
        now = self._clock()
        expires_at = retention_end(now, self._retention_days)  # the document's own expiry
        document = self._repository.mark_uploaded(doc_id, now, expires_at) or document
        logger.info("file arrived", extra={"document_id": doc_id, "bytes": size})
        return SummarizeRequest(
            document_id=doc_id,
            generation=document.generation,
            correlation_id=document.correlation_id,
        )
