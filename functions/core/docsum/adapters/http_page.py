"""The `PageGetter` port with urllib3: one GET connected to an address that passed the policy
(the pinned-address connection of `adapters.http_webhook`), the body read in chunks against a
byte cap and a deadline, so neither a huge nor a slowly dripping page holds the worker."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping

from urllib3.exceptions import HTTPError, TimeoutError

from docsum.adapters.http_webhook import PinnedHttp
from docsum.domain.errors import WebhookSendFailed
from docsum.ports.pages import PageAnswer, PageTimedOut, PageUnreachable

_CHUNK = 64 * 1024


class Urllib3PageGetter:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._http = PinnedHttp(ssl_context)

    def get(
        self,
        url: str,
        addresses: tuple[str, ...],
        headers: Mapping[str, str],
        max_bytes: int,
        deadline: float,
    ) -> PageAnswer:
        try:
            response, pool = self._http.open("GET", url, addresses, None, headers, deadline)
        except WebhookSendFailed as exc:
            if time.monotonic() >= deadline or "Timeout" in str(exc):  # urllib3 names it
                raise PageTimedOut(str(exc)) from exc
            raise PageUnreachable(str(exc)) from exc
        try:
            answer_headers = {k.lower(): v for k, v in response.headers.items()}
            if not 200 <= response.status < 300:
                return PageAnswer(response.status, answer_headers, b"")
            declared = answer_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                return PageAnswer(response.status, answer_headers, b"", too_large=True)
            body = bytearray()
            while chunk := response.read1(_CHUNK):  # what has arrived: the deadline counts
                body += chunk
                if len(body) > max_bytes:
                    return PageAnswer(response.status, answer_headers, b"", too_large=True)
                if time.monotonic() > deadline:
                    raise PageTimedOut("the page's time ran out while reading it")
            return PageAnswer(response.status, answer_headers, bytes(body))
        except TimeoutError as exc:
            raise PageTimedOut(str(exc)) from exc
        except HTTPError as exc:
            if time.monotonic() >= deadline:
                raise PageTimedOut(str(exc)) from exc
            raise PageUnreachable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            response.release_conn()
            response.close()
            pool.close()
