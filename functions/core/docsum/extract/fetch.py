"""Web pages by URL: the worker fetches the page under the callbacks' SSRF policy.

One mechanism for every request the service makes to an address a client named: the URL (and
each redirect's target) goes through `CallbackPolicy.check` — https only unless the local stack
allows loopback http, every resolved address public, no user-info — and the request is sent to
exactly the addresses that passed (`PageGetter`, like `WebhookSender`, connects to a checked
address: no DNS answer after the check is ever used). Redirects are followed by hand, each
target checked again, at most `max_redirects`; the whole fetch has one time limit and the body
a size cap, so a slow or endless page ends with a stable reason. The reasons are the
document's `failed` reason, stable so clients can match on them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin

from docsum.domain.errors import CallbackUrlRefused
from docsum.extract.kinds import kind_of_media_type
from docsum.extract.limits import ExtractionFailed
from docsum.platform.observability import logger
from docsum.ports.pages import Page, PageGetter, PageTimedOut, PageUnreachable
from docsum.push.callbacks import REDIRECT_STATUSES, CallbackPolicy

ADDRESS_NOT_ALLOWED = "address not allowed"
PAGE_TOO_LARGE = "page too large"
PAGE_TIMED_OUT = "page timed out"
NO_READABLE_TEXT = "no readable text on the page"
TOO_MANY_REDIRECTS = "page could not be fetched (too many redirects)"
UNREACHABLE = "page could not be fetched (no connection)"
USER_AGENT = "docsum-fetch (+https://github.com/docsum)"
# What we read, in order of preference; anything else we refuse by its Content-Type.
ACCEPT = "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5"
# Served as these, the bytes decide the format (servers label files carelessly).
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})


def http_failure(status: int) -> str:
    return f"page could not be fetched (HTTP {status})"


def type_not_supported(media_type: str) -> str:
    return f"page type not supported ({media_type[:100]})"


class PageFetchFailed(ExtractionFailed):
    """The page could not be had: permanent for this generation (re-summarize fetches again).
    The message is one of the stable reasons above."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_seconds: float
    max_redirects: int


def fetch_page(url: str, policy: CallbackPolicy, getter: PageGetter, limits: FetchLimits) -> Page:
    """The page at `url`, or `PageFetchFailed` with a stable reason."""
    deadline = time.monotonic() + limits.timeout_seconds
    headers = {"user-agent": USER_AGENT, "accept": ACCEPT}
    for _ in range(limits.max_redirects + 1):
        try:
            target = policy.check(url)
        except CallbackUrlRefused as exc:
            logger.info("page address refused", extra={"url": url[:200], "reason": str(exc)})
            raise PageFetchFailed(ADDRESS_NOT_ALLOWED) from exc
        if time.monotonic() >= deadline:
            raise PageFetchFailed(PAGE_TIMED_OUT)
        try:
            answer = getter.get(target.url, target.addresses, headers, limits.max_bytes, deadline)
        except PageTimedOut as exc:
            raise PageFetchFailed(PAGE_TIMED_OUT) from exc
        except PageUnreachable as exc:
            logger.info("page unreachable", extra={"url": url[:200], "detail": str(exc)})
            raise PageFetchFailed(UNREACHABLE) from exc
        location = answer.headers.get("location")
        if answer.status in REDIRECT_STATUSES and location:
            url = urljoin(url, location)
            continue
        if not 200 <= answer.status < 300:
            raise PageFetchFailed(http_failure(answer.status))
        if answer.too_large:
            raise PageFetchFailed(PAGE_TOO_LARGE)
        served = answer.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if served not in _UNTYPED and kind_of_media_type(served) is None:
            raise PageFetchFailed(type_not_supported(served))
        return Page(url=url, data=answer.body, media_type=served or None)
    raise PageFetchFailed(TOO_MANY_REDIRECTS)


class PageFetcher:
    """The policy, the HTTP client and the limits pages are fetched with (a `PageSource`): in
    the worker's process, or in the fetch function on its behalf (docsum.extract.page_relay)."""

    def __init__(self, policy: CallbackPolicy, getter: PageGetter, limits: FetchLimits) -> None:
        self._policy = policy
        self._getter = getter
        self._limits = limits

    def fetch(self, url: str) -> Page:
        return fetch_page(url, self._policy, self._getter, self._limits)


def no_page_fetcher() -> PageFetcher:
    raise PageFetchFailed("this worker was built without a page fetcher")
