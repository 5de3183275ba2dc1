"""Web pages: one pinned GET, never following a redirect (the fetch policy in
docsum.extract.fetch decides where to go; adapters.http_page makes the request)."""

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
