"""Domain errors. Handlers translate them: the API into HTTP problems, the worker into
retry-or-fail decisions."""

from __future__ import annotations

from typing import Any


class DocsumError(Exception):
    """Base class of every domain error. `reason` is the stable, readable text a document's
    `error` shows; the exception's own message (details, hosts, paths) goes to the logs only."""

    reason = "internal error"


class DocumentNotFound(DocsumError):
    pass


class ClientBusy(DocsumError):
    """The client already has its share of work queued or in progress (the API answers 429
    with Retry-After): one client cannot queue hundreds of documents ahead of everyone."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class UploadPending(DocsumError):
    """A re-summarize of a document whose file has not arrived yet (the API answers 409):
    it would otherwise end `done` with nothing summarized and lose the upload."""

    def __init__(self, document_id: str) -> None:
        super().__init__(
            f"document {document_id} is still waiting for its upload; "
            "summarize it again once the file has arrived"
        )


class InvalidDocument(DocsumError):
    """A submitted field breaks a domain rule (the API answers 422 naming the field)."""

    location = "body"  # where the field is: the request body, or the query string

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidTextRange(InvalidDocument):
    """A span of a document's text that is empty, too long or past its end (a query)."""

    location = "query"


class InvalidCursor(DocsumError):
    """A list cursor that is not of the form `next_cursor` gives."""


class DocumentTooLarge(DocsumError):
    def __init__(self, chars: int, limit: int) -> None:
        super().__init__(f"text has {chars} characters; the limit is {limit}")
        self.chars = chars
        self.limit = limit


class FileTooLarge(DocsumError):
    def __init__(self, size: int, limit: int, setting: str = "MAX_UPLOAD_BYTES") -> None:
        super().__init__(f"the file has {size} bytes; {setting} is {limit}")
        self.size = size
        self.limit = limit
        self.setting = setting


class TextMissing(DocsumError):
    """The stored text of a document is gone: permanent, retrying cannot help."""

    reason = "document text is missing"


class WorkSuperseded(DocsumError):
    """The worker's progress write was refused: the document was deleted or asked again, so the
    rest of its work would be for nothing."""


class LLMError(DocsumError):
    """The model call failed. `transient` says whether a retry may succeed; `kind` is a short
    label for metrics and logs (unreachable, timeout, server_error, model_missing, …)."""

    def __init__(self, kind: str, detail: str, *, transient: bool) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.transient = transient
        self.reason = LLM_REASONS.get(kind, "model call failed")


# What a client reads in `error` for each kind of LLMError (stable: clients may match on it).
LLM_REASONS = {
    "unreachable": "model host unreachable",
    "timeout": "model host did not answer in time",
    "stalled": "model host stopped producing its answer",
    "busy": "model host busy",
    "server_error": "model host returned an error",
    "model_missing": "model not available on the model host",
    "rejected": "model host rejected the request",
    "empty_answer": "model returned an empty answer",
}


def stopped_the_worker(deaths: int) -> str:
    """The `error` of a poison document: its worker died (timeout, out of memory) that often."""
    return f"the document stopped the worker {deaths} times"


def gave_up(reason: str, window_seconds: int) -> str:
    """The `error` of a document retried for the whole retry window."""
    span = f"{window_seconds // 60} min" if window_seconds % 60 == 0 else f"{window_seconds} s"
    return f"gave up after {span} of retries: {reason}"


# A document whose worker stopped without a word (killed, timed out, out of memory): its lease
# ran out. GET shows this while it is still `processing`; the sweeper re-sends it.
LEASE_EXPIRED = "worker stopped before finishing (its lease expired); it will be retried"

# Kinds that say the host itself is down or failing (not this document's fault): one such
# failure opens the worker's circuit breaker for every other document. A busy host (its queue
# full: "busy") or a slow first token ("timeout") is working: the breaker stays closed.
HOST_DOWN_KINDS = frozenset({"unreachable", "server_error", "model_missing", "stalled"})


class ContextOverflow(DocsumError):
    """The prompt does not fit the model's context window. Never truncated silently: the caller
    splits the text (see `chunking`) or fails with this reason."""

    def __init__(self, planned_tokens: int, window_tokens: int, detail: str = "") -> None:
        super().__init__(
            f"prompt of ~{planned_tokens} tokens does not fit a {window_tokens}-token window"
            + (f" ({detail})" if detail else "")
        )
        self.planned_tokens = planned_tokens
        self.window_tokens = window_tokens
        # Answers already received in the same guarded call (a guard retry, made longer by its
        # feedback, can overflow after a first answer): their calls are still spent.
        self.answered: tuple[Any, ...] = ()

    reason = "document does not fit the model's context window"


class DeadlineReached(DocsumError):
    """The invocation has too little time left to start another model call: the finished
    chunk summaries are kept and the document resumes in a later invocation."""

    reason = "paused before the invocation's time limit; resuming"


class NoProgressInTime(DocsumError):
    """An invocation ran out of time before it kept any result: pausing again would repeat
    it forever, so this is a transient failure (retried within the window, then `failed`)."""

    reason = "the model was too slow to finish one part within an invocation"


class PageFetchUnavailable(DocsumError):
    """The fetch function could not be asked, or did not answer (throttled, crashed, timed out,
    its page not where it said): an outage, retried like one; the page's own failures are
    `PageFetchFailed` reasons, never this."""

    reason = "page fetch function unavailable"


class CallbackUrlRefused(DocsumError):
    """A callback URL the service will not call (see `docsum.push.callbacks`): the reason is safe to
    show the client."""


class WebhookSendFailed(DocsumError):
    """The receiver could not be reached or did not answer in time (retried)."""


class GuardRejected(DocsumError):
    """No answer of the model passed the guard (`docsum.summary.guard`), not even after a retry and
    salvage: permanent for this document. The message is a stable reason."""

    def __init__(
        self, reason: str, problems: tuple[Any, ...] = (), answers: tuple[Any, ...] = ()
    ) -> None:
        super().__init__(reason)
        self.problems = problems
        self.answers = answers  # the model's answers it took: their calls are still spent
        self.outcomes: dict[str, int] = {}  # the guard's outcomes so far (metrics)
