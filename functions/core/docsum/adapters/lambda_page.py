"""The `PageSource` port through the fetch function: a worker in a VPC with no way to the
internet asks a function outside it for the page (one synchronous invoke), then reads the page's
bytes where the function left them and deletes them.

The page's own failures come back as the same `PageFetchFailed` reasons an in-process fetch
raises; anything else (throttling, the function crashing or timing out, its page missing) is
`PageFetchUnavailable`, an outage the worker retries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import ValidationError

from docsum.domain.errors import FileTooLarge, PageFetchUnavailable
from docsum.domain.ids import page_key
from docsum.extract.fetch import PAGE_TOO_LARGE, PageFetchFailed
from docsum.extract.page_relay import PageFetchAnswer, PageFetchRequest
from docsum.platform.observability import logger
from docsum.ports.pages import Page
from docsum.ports.storage import TextStore

# The fetch function's Timeout is the page's time cap plus this (template.yaml: a test keeps
# the two in step): storing up to PAGE_MAX_BYTES in S3 after the fetch, and its answer.
FETCH_FUNCTION_MARGIN_SECONDS = 10.0


def invoke_read_timeout(page_timeout_seconds: float) -> float:
    """How long the worker waits for the invoke's answer: the function's whole Timeout and a
    little more, so a slow page ends as the function's `page timed out`, not a client timeout."""
    return page_timeout_seconds + FETCH_FUNCTION_MARGIN_SECONDS + 5


class LambdaPageSource:
    def __init__(self, lambda_client: Any, function_name: str, store: TextStore, max_bytes: int):
        self._lambda = lambda_client
        self._function = function_name
        self._store = store
        self._max_bytes = max_bytes

    def fetch(self, url: str) -> Page:
        key = page_key(uuid.uuid4().hex)
        try:
            return self._fetch(url, key)
        finally:
            self._forget(key)  # whatever the answer, nothing stays behind

    def _fetch(self, url: str, key: str) -> Page:
        answer = self._invoke(PageFetchRequest(url=url, key=key))
        if answer.failed is not None:
            raise PageFetchFailed(answer.failed)
        if answer.url is None:
            raise PageFetchUnavailable("the fetch function answered neither a page nor a reason")
        try:
            data = self._store.get_bytes(key, self._max_bytes)
        except FileTooLarge as exc:  # the function's PAGE_MAX_BYTES is larger than ours
            raise PageFetchFailed(PAGE_TOO_LARGE) from exc
        except Exception as exc:  # missing, or S3 failing: not the page's fault
            raise PageFetchUnavailable(f"the fetched page is not at {key}: {exc}") from exc
        return Page(url=answer.url, data=data, media_type=answer.media_type)

    def _invoke(self, request: PageFetchRequest) -> PageFetchAnswer:
        try:
            response = self._lambda.invoke(
                FunctionName=self._function,
                InvocationType="RequestResponse",
                Payload=request.model_dump_json().encode(),
            )
            payload = response["Payload"].read()
        except Exception as exc:  # botocore: throttled, unreachable, no permission, timeout
            raise PageFetchUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.get("FunctionError"):  # crashed, timed out, out of memory
            detail = payload[:500].decode("utf-8", "replace")
            raise PageFetchUnavailable(f"{response['FunctionError']}: {detail}")
        try:
            return PageFetchAnswer.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            raise PageFetchUnavailable(f"unreadable answer: {payload[:200]!r}") from exc

    def _forget(self, key: str) -> None:
        """The page is read once: delete it now (the lifecycle rule is only the backstop)."""
        try:
            self._store.delete(key)
        except Exception:
            logger.warning("fetched page not deleted", extra={"key": key}, exc_info=True)
