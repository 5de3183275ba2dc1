"""A page fetched by the fetch function for a worker that cannot reach the internet (the
summarize function in a VPC without a NAT gateway): what the worker asks, what it is answered,
and the fetch function's side.

The fetch function runs the very `PageFetcher` a worker would (the address policy is checked
where the connection is made, so it must run there), writes the page's bytes to the key the
worker named (a Lambda answer holds at most 6 MB; a page up to `PAGE_MAX_BYTES`) and answers
with the final URL, the served type and the size — or with the page's stable `failed` reason,
so the document ends exactly as an in-process fetch would have ended it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from docsum.domain.ids import PAGES_PREFIX
from docsum.extract.fetch import PageFetchFailed
from docsum.platform.observability import logger
from docsum.ports.pages import PageSource
from docsum.ports.storage import TextStore

# The request is the worker's (only its role may invoke the function); the key is still held
# to the page prefix, the only one the function's role may write.
_PAGE_KEY_PATTERN = "^" + PAGES_PREFIX + "[A-Za-z0-9_-]{1,100}$"


class PageFetchRequest(BaseModel):
    """The fetch function's payload: fetch `url`, leave its bytes at `key`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=8192)
    key: str = Field(pattern=_PAGE_KEY_PATTERN)


class PageFetchAnswer(BaseModel):
    """The fetch function's answer: the page (its bytes at the request's key) or `failed`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None  # the final URL, after redirects
    media_type: str | None = None
    size: int | None = Field(default=None, ge=0)
    failed: str | None = None  # a `PageFetchFailed` reason: the page cannot be had


class PageRelay:
    """The fetch function's use case: one page into the documents bucket."""

    def __init__(self, pages: PageSource, store: TextStore) -> None:
        self._pages = pages
        self._store = store

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """One invocation: a malformed request raises (a bug of the caller's: the invoke ends
        in a function error, which the worker retries)."""
        request = PageFetchRequest.model_validate(event)
        try:
            page = self._pages.fetch(request.url)
        except PageFetchFailed as exc:
            logger.info("page not fetched", extra={"reason": str(exc)})
            return PageFetchAnswer(failed=str(exc)).model_dump(exclude_none=True)
        self._store.put_bytes(request.key, page.data, page.media_type or "application/octet-stream")
        logger.info("page fetched for the worker", extra={"bytes": len(page.data)})
        answer = PageFetchAnswer(url=page.url, media_type=page.media_type, size=len(page.data))
        return answer.model_dump(exclude_none=True)
