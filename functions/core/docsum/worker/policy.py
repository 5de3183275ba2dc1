"""The worker's slice of the settings, and the arithmetic of its retries: how long a document
that keeps failing waits before its next delivery, and how long a delivery waits for another
worker's lease."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from docsum.extract.limits import ExtractionLimits
from docsum.extract.sandbox import STARTUP_ALLOWANCE_SECONDS, SandboxLimits
from docsum.platform.retry import Jitter, backoff_seconds, jittered
from docsum.platform.settings import SettingsSlice


@dataclass(frozen=True)
class WorkerPolicy(SettingsSlice):
    """The worker's settings: retries (backoff, window, the receive-count backstop), the time
    kept back at the end of an invocation, the bounds of a file's extraction (the parsers'
    and the sandbox's), and how many worker deaths a document may cause."""

    retry_base_seconds: int
    retry_max_seconds: int
    retry_window_seconds: int
    max_receive_count: int
    deadline_margin_seconds: float
    max_document_chars: int
    max_pdf_pages: int
    max_unpacked_bytes: int
    extraction_timeout_seconds: float
    max_upload_bytes: int
    max_markup_elements: int
    max_html_depth: int
    max_markdown_emphasis_marks: int
    extraction_memory_mb: int
    max_worker_deaths: int
    max_ocr_pages: int
    max_image_pixels: int
    ocr_page_seconds: float
    ocr_timeout_seconds: float
    ocr_languages: str
    ocr_dpi: int

    def extraction_limits(self) -> ExtractionLimits:
        # The limits named as their settings (pages, unpacked size, parser work, OCR's) pass
        # as they are.
        same = {f.name for f in fields(ExtractionLimits)} & {f.name for f in fields(self)}
        return ExtractionLimits(
            max_chars=self.max_document_chars,
            deadline_seconds=self.extraction_timeout_seconds,
            **{name: getattr(self, name) for name in same},
        )

    def sandbox_limits(self) -> SandboxLimits:
        """The OS limits of the extraction's child: memory, CPU (the extraction's deadline and
        OCR's, which runs on top of it), and the wall clock (that plus the child's start-up)."""
        seconds = self.extraction_timeout_seconds + self.ocr_timeout_seconds
        return SandboxLimits(
            memory_bytes=self.extraction_memory_mb * 1024 * 1024,
            cpu_seconds=math.ceil(seconds),
            wall_seconds=seconds + STARTUP_ALLOWANCE_SECONDS,
        )

    def retry_delay(self, failing_for: float, jitter: Jitter) -> int:
        """Seconds before the next delivery of a document failing for `failing_for` seconds:
        a jittered backoff that grows with it, capped."""
        backoff = backoff_seconds(failing_for, self.retry_base_seconds, self.retry_max_seconds)
        return max(1, math.ceil(jittered(backoff, jitter)))

    def lease_wait(self, lease_left: float) -> int:
        """Seconds before a delivery looks again at a document another worker holds: just
        after its lease ends (by then that worker has finished or died), capped."""
        return min(self.retry_max_seconds, max(1, math.ceil(lease_left) + 1))
