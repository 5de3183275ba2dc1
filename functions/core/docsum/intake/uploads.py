"""A presigned upload's file arrived (its S3 event): the document goes from `uploading` to
`queued`, its retention starts now, and it becomes a summarize request like any other.

A presigned POST can be replayed until it expires: only the first file that arrives counts
(its S3 version is recorded and read); a later post to the same form, or one after the
document was deleted, is removed when its event arrives, so no unowned file stays behind."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from docsum.domain.document import DOCUMENT_ID_PATTERN, UPLOADS_PREFIX, retention_end, utc_now
from docsum.domain.messages import SummarizeRequest
from docsum.platform.observability import logger
from docsum.ports.repository import DocumentRepository
from docsum.ports.storage import TextStore


class UploadArrivals:
    def __init__(
        self,
        repository: DocumentRepository,
        retention_days: int,
        clock: Callable[[], datetime] = utc_now,
        *,
        files: TextStore,
    ) -> None:
        self._repository = repository
        self._files = files
        self._retention_days = retention_days
        self._clock = clock

    def arrived(self, key: str, size: int, version: str | None) -> SummarizeRequest | None:
        """The request that summarizes the uploaded document; None when `key` is no upload
        of a known document (its record expired or was deleted, or no upload announced the
        object) or is a later post to a used form. A repeated event of the first file finds
        the document already queued: it is then a plain redelivery."""
        doc_id = key.removeprefix(UPLOADS_PREFIX)
        if not key.startswith(UPLOADS_PREFIX):
            logger.warning("S3 event for no known upload", extra={"key": key[:200]})
            return None
        known = re.fullmatch(DOCUMENT_ID_PATTERN, doc_id)
        document = self._repository.get(doc_id) if known else None
        if document is None:
            # Posted after its document was deleted, or to no upload at all: nobody reads it.
            self._files.delete(key)
            logger.warning("upload for no document deleted", extra={"key": key[:200]})
            return None
        now = self._clock()
        expires_at = retention_end(now, self._retention_days)  # the document's own expiry
        marked = self._repository.mark_uploaded(doc_id, now, expires_at, version)
        if marked is None and version is not None and version != document.upload_version:
            self._files.delete_version(key, version)
            logger.warning("a later post to a used upload form deleted", extra={"key": key})
            return None
        document = marked or document
        logger.info("file arrived", extra={"document_id": doc_id, "bytes": size})
        return SummarizeRequest(
            document_id=doc_id,
            generation=document.generation,
            correlation_id=document.correlation_id,
        )
