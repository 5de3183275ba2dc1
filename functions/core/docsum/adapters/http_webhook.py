"""Webhook POSTs, and the HEAD probe of a callback URL at submission, with urllib3 (already in
the layer, through botocore), connected to an address that passed the callback policy rather
than whatever the name resolves to at connect time: TLS still verifies the certificate against
the URL's host name (SNI and hostname check), and the Host header names it. No retries here
(the queue retries), no redirects, one deadline for the whole attempt (every address tried
included) and a cap on what is read of the answer.

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


class Urllib3WebhookSender:
    def __init__(
        self,
        timeout_seconds: float,
        max_response_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context`: whom TLS trusts; None is the system's CA store (what Lambda has)."""
        self._timeout_seconds = timeout_seconds
        self._max_response_bytes = max_response_bytes
        self._ssl_context = ssl_context or ssl.create_default_context()

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
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = port == (443 if parts.scheme == "https" else 80)
        host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
        deadline = time.monotonic() + self._timeout_seconds
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
                try:
                    answer = response.read(self._max_response_bytes) if method != "HEAD" else b""
                finally:
                    response.release_conn()
                    response.close()
                return WebhookResponse(response.status, answer, response.headers.get("location"))
            except HTTPError as exc:
                failures.append(f"{address}: {type(exc).__name__}: {exc}")
            finally:
                pool.close()
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
