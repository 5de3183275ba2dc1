"""Domain errors. Handlers translate them: the API into HTTP problems, the worker into
retry-or-fail decisions."""

from __future__ import annotations


class DocsumError(Exception):
    """Base class of every domain error."""


class DocumentNotFound(DocsumError):
    pass


class InvalidDocument(DocsumError):
    """A submitted field breaks a domain rule (the API answers 422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


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


class LLMError(DocsumError):
    """The model call failed. `transient` says whether a retry may succeed; `kind` is a short
    label for metrics and logs (unreachable, timeout, server_error, model_missing, …)."""

    def __init__(self, kind: str, detail: str, *, transient: bool) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.transient = transient


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


class CallbackUrlRefused(DocsumError):
    """A callback URL the service will not call (see `docsum.callbacks`): the reason is safe to
    show the client."""


class WebhookSendFailed(DocsumError):
    """The receiver could not be reached or did not answer in time (retried)."""
