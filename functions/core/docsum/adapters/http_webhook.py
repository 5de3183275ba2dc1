"""Webhook POSTs with urllib3 (already in the layer, through botocore), connected to an address
that passed the callback policy rather than whatever the name resolves to at connect time:
TLS still verifies the certificate against the URL's host name (SNI and hostname check), and
the Host header names it. No retries here (the queue retries), no redirects, one deadline for
the whole attempt and a cap on what is read of the answer."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from docsum.errors import WebhookSendFailed
from docsum.ports import WebhookResponse


class Urllib3WebhookSender:
    def __init__(
        self,
        timeout_seconds: float,
        max_response_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context`: whom TLS trusts; None is the system's CA store (what Lambda has)."""
        self._timeout = urllib3.Timeout(total=timeout_seconds)
        self._max_response_bytes = max_response_bytes
        self._ssl_context = ssl_context or ssl.create_default_context()

    def post(
        self, url: str, addresses: tuple[str, ...], body: bytes, headers: Mapping[str, str]
    ) -> WebhookResponse:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = port == (443 if parts.scheme == "https" else 80)
        host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
        failures: list[str] = []
        for address in addresses:
            pool = self._pool(parts.scheme, address, port, host)
            try:
                response = pool.urlopen(
                    "POST",
                    target,
                    body=body,
                    headers={**headers, "host": host_header},
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    assert_same_host=False,
                )
                try:
                    answer = response.read(self._max_response_bytes)
                finally:
                    response.release_conn()
                    response.close()
                return WebhookResponse(response.status, answer)
            except HTTPError as exc:
                failures.append(f"{address}: {type(exc).__name__}: {exc}")
            finally:
                pool.close()
        raise WebhookSendFailed("; ".join(failures) or "no address to connect to")

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        if scheme == "https":
            return urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=self._timeout,
                maxsize=1,
                server_hostname=host,
                assert_hostname=host,
                cert_reqs="CERT_REQUIRED",
                ssl_context=self._ssl_context,
            )
        return urllib3.HTTPConnectionPool(address, port, timeout=self._timeout, maxsize=1)
