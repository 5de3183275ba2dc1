"""Web pages: one pinned GET, never following a redirect (the fetch policy in
docsum.extract.fetch decides where to go; adapters.http_page makes the request), and a page by
URL as the worker gets it (`PageSource`: fetched in its own process, or by the fetch function
outside a VPC that has no way to the internet)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class PageTimedOut(Exception):
    """Raised by a `PageGetter` when its time ran out (connect or read)."""


class PageUnreachable(Exception):
    """Raised by a `PageGetter` when no checked address answered."""


@dataclass(frozen=True)
class PageAnswer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # empty for a redirect or an error status
    too_large: bool = False  # the body (or its Content-Length) went past the cap


@dataclass(frozen=True)
class Page:
    url: str  # the final URL, after redirects
    data: bytes
    media_type: str | None  # the served Content-Type's media type, lower-case


class PageSource(Protocol):
    def fetch(self, url: str) -> Page:
        """The page at `url` under the fetch policy, or `PageFetchFailed`
        (docsum.extract.fetch) with one of its stable reasons; anything else raised is an
        outage the worker retries."""
        ...


class PageGetter(Protocol):
    def get(
        self,
        url: str,
        addresses: tuple[str, ...],
        headers: Mapping[str, str],
        max_bytes: int,
        deadline: float,
    ) -> PageAnswer:
        """One GET of `url`, connected only to one of `addresses`; never follows a redirect;
        the body only for a 2xx answer, read until `max_bytes` (then `too_large`) or the
        `time.monotonic()` deadline (then `PageTimedOut`)."""
