"""Callback URLs are untrusted input that makes the service send requests (SSRF). The policy:

- `https` only, to a host whose every resolved address is public (no private, loopback,
  link-local — 169.254.169.254 is link-local —, shared, reserved, multicast or unspecified
  ranges, and the same for IPv6, IPv4-mapped and -translated IPv6 included);
- no user-info in the URL (`https://good.example@10.0.0.1/` tricks readers and parsers);
- checked at submission (the client gets a 422 with the reason) and again at each delivery, where
  the request is sent to exactly the addresses that passed (a DNS answer that changes between
  the check and the connection is never used) and a redirect is never followed;
- at submission a HEAD probe (to those addresses only) also refuses a receiver that redirects:
  deliveries would only fail until the DLQ, and a redirect to an internal address is the
  classic way around an address check;
- `callback_allow_loopback_http` (the local stack turns it on) also admits `http`/`https` to
  loopback addresses, so a developer can point a callback at a receiver on their machine.

Numeric forms such as `http://2130706433/` or `http://0x7f.1/` are resolved like any name, so
the addresses they stand for are what gets checked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from docsum.domain.document import CALLBACK_URL_MAX_CHARS
from docsum.domain.errors import CallbackUrlRefused, WebhookSendFailed
from docsum.platform.observability import logger
from docsum.platform.settings import Settings
from docsum.ports.push import CallbackProbe
from docsum.push.addresses import IPAddress, is_loopback, is_public

Resolver = Callable[[str, int], list[str]]

USER_AGENT = "docsum-webhooks"  # in every request a receiver gets from us, probe included
# The statuses that send a client elsewhere (300 and 304 name no single target).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SHOWN_LOCATION_CHARS = 200  # the receiver's Location is echoed in the 422: keep it short


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise CallbackUrlRefused(f"host {host!r} does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class CallbackTarget:
    url: str
    host: str
    port: int
    addresses: tuple[str, ...]  # every one checked; connect only to these


class CallbackPolicy:
    def __init__(self, *, allow_loopback_http: bool, resolver: Resolver = resolve) -> None:
        self._allow_loopback = allow_loopback_http
        self._max_chars = CALLBACK_URL_MAX_CHARS
        self._resolve = resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        return cls(allow_loopback_http=settings.callback_allow_loopback_http)

    def check(self, url: str) -> CallbackTarget:
        """The target, or `CallbackUrlRefused` saying why (safe to show the client)."""
        if len(url) > self._max_chars:
            raise CallbackUrlRefused(f"longer than {self._max_chars} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise CallbackUrlRefused(f"not a valid URL: {exc}") from exc
        scheme = parts.scheme.lower()
        allowed_schemes = ("https", "http") if self._allow_loopback else ("https",)
        if scheme not in allowed_schemes:
            raise CallbackUrlRefused(f"scheme must be {' or '.join(allowed_schemes)}")
        if parts.username is not None or parts.password is not None:
            raise CallbackUrlRefused("user-info (user:password@) is not allowed")
        host = parts.hostname
        if not host:
            raise CallbackUrlRefused("no host")
        if port == 0:
            raise CallbackUrlRefused("port 0 is not a port a receiver can listen on")
        port = port or (443 if scheme == "https" else 80)
        addresses = self._addresses(host, port)
        for address in addresses:
            self._check_address(scheme, host, address)
        return CallbackTarget(url, host, port, tuple(str(a) for a in addresses))

    def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(host, port)]
        if not found:
            raise CallbackUrlRefused(f"host {host!r} does not resolve")
        return found

    def _check_address(self, scheme: str, host: str, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise CallbackUrlRefused("IPv6 zone identifiers (%) are not allowed")
        if self._allow_loopback and is_loopback(address):
            return
        if not is_public(address):
            raise CallbackUrlRefused(f"{host!r} resolves to {address}, not a public address")
        if scheme != "https":
            raise CallbackUrlRefused("http is only allowed to loopback addresses; use https")


def check_at_submission(
    policy: CallbackPolicy, probe: CallbackProbe | None, url: str
) -> CallbackTarget:
    """The policy's check, then (given a probe) one HEAD to the addresses that passed. Every
    redirect is refused, not only one to a refused address: deliveries never follow one, so an
    accepted redirecting URL would only fail until the DLQ; the client is told the final URL is
    needed now. A receiver that is down, slow or answers an error is accepted: it may be up by
    the time the document ends."""
    target = policy.check(url)
    if probe is None:
        return target
    try:
        answer = probe.probe(target.url, target.addresses)
    except WebhookSendFailed as exc:
        logger.info(
            "callback URL accepted; its receiver did not answer", extra={"reason": str(exc)}
        )
        return target
    if answer.status not in REDIRECT_STATUSES:
        return target
    if not answer.location:
        raise CallbackUrlRefused(
            f"the receiver redirects (HTTP {answer.status}); webhooks are never redirected: "
            "give the final URL"
        )
    location = urljoin(url, answer.location)
    shown = location[:_SHOWN_LOCATION_CHARS]
    try:
        policy.check(location)
    except CallbackUrlRefused as exc:
        raise CallbackUrlRefused(f"redirects to {shown}, which is refused: {exc}") from exc
    raise CallbackUrlRefused(
        f"redirects (HTTP {answer.status}) to {shown}; webhooks are never redirected: "
        "give the final URL"
    )
