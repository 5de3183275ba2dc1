"""What a submission carries besides its content, whichever way it comes (JSON text, a file in
the request, a presigned upload)."""

from __future__ import annotations

from dataclasses import dataclass, field

from docsum.domain.document import DEFAULT_OWNER
from docsum.domain.options import SummaryOptions


@dataclass(frozen=True)
class Submission:
    correlation_id: str  # the request's id: logs, the queue message and the document carry it
    title: str | None = None
    owner: str = DEFAULT_OWNER
    options: SummaryOptions = field(default_factory=SummaryOptions)
    # Where the client wants a signed POST when the document ends (checked at submission).
    callback_url: str | None = None
