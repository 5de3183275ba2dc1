"""Webhook POSTs, and the HEAD probe of a callback URL at submission, with urllib3 (already in
the layer, through botocore), connected to an address that passed the callback policy rather
than whatever the name resolves to at connect time: TLS still verifies the certificate against
the URL's host name (SNI and hostname check), and the Host header names it. No retries here
(the queue retries), no redirects, one deadline for the whole attempt (every address tried
included) and a cap on what is read of the answer. The pinned connection (`PinnedHttp`) also
fetches web pages (`adapters.http_page`): one mechanism for every URL a client names.

The ingest function builds this lazily (see `docsum.wiring`): importing it loads urllib3 and
the CA store, which its cold start should not pay for."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from docsum.domain.errors import WebhookSendFailed
from docsum.ports.push import WebhookResponse
from docsum.push.callbacks import USER_AGENT


class PinnedHttp:
    """Requests connected to an address that passed the policy, never to what the URL's name
    resolves to at connect time; one deadline for every address tried. Shared by the webhook
    sender and the page getter (`adapters.http_page`): one pinned-address mechanism."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """`ssl_context`: whom TLS trusts; None is the system's CA store (what Lambda has)."""
        self._ssl_context = ssl_context or ssl.create_default_context()

    def open(
        self,
        method: str,
        url: str,
        addresses: tuple[str, ...],
        body: bytes | None,
        headers: Mapping[str, str],
        deadline: float,
    ) -> tuple[urllib3.BaseHTTPResponse, urllib3.HTTPConnectionPool]:
        """The response, its body unread, and its pool: the caller reads, then closes both.
        `deadline`: `time.monotonic()` by which connecting and the answer's head must be done.
        Raises `WebhookSendFailed` when no address answered."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = port == (443 if parts.scheme == "https" else 80)
        host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
        failures: list[str] = []
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                failures.append(f"{address}: not tried, the attempt's time ran out")
                break
            pool = self._pool(parts.scheme, address, port, host, urllib3.Timeout(total=remaining))
            try:
                response = pool.urlopen(
                    method,
                    target,
                    body=body,
                    headers={**headers, "host": host_header},
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    assert_same_host=False,
                )
            except HTTPError as exc:
                failures.append(f"{address}: {type(exc).__name__}: {exc}")
                pool.close()
                continue
            return response, pool
        raise WebhookSendFailed("; ".join(failures) or "no address to connect to")

    def _pool(
        self, scheme: str, address: str, port: int, host: str, timeout: urllib3.Timeout
    ) -> urllib3.HTTPConnectionPool:
        if scheme == "https":
            return urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                maxsize=1,
                server_hostname=host,
                assert_hostname=host,
                cert_reqs="CERT_REQUIRED",
                ssl_context=self._ssl_context,
            )
        return urllib3.HTTPConnectionPool(address, port, timeout=timeout, maxsize=1)


class Urllib3WebhookSender:
    def __init__(
        self,
        timeout_seconds: float,
        max_response_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context`: as for `PinnedHttp`."""
        self._timeout_seconds = timeout_seconds
        self._max_response_bytes = max_response_bytes
        self._http = PinnedHttp(ssl_context)

    def post(
        self, url: str, addresses: tuple[str, ...], body: bytes, headers: Mapping[str, str]
    ) -> WebhookResponse:
        return self._request("POST", url, addresses, body, headers)

    def probe(self, url: str, addresses: tuple[str, ...]) -> WebhookResponse:
        """The `CallbackProbe` port: a HEAD, so the receiver gets no unsigned notification."""
        return self._request("HEAD", url, addresses, None, {"user-agent": USER_AGENT})

    def _request(
        self,
        method: str,
        url: str,
        addresses: tuple[str, ...],
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> WebhookResponse:
        deadline = time.monotonic() + self._timeout_seconds
        response, pool = self._http.open(method, url, addresses, body, headers, deadline)
        try:
            answer = response.read(self._max_response_bytes) if method != "HEAD" else b""
        except HTTPError as exc:
            raise WebhookSendFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            response.release_conn()
            response.close()
            pool.close()
        return WebhookResponse(response.status, answer, response.headers.get("location"))
