"""Bearer-token auth: every token belongs to a named client. Tokens: `API_TOKEN` or an SSM
SecureString named by `API_TOKEN_PARAMETER` (re-read every five minutes, so a rotation reaches
warm functions without a deploy). No token configured at all means auth is off.

The value is comma-separated entries:
- `name:token`: a token of client `name` (letters, digits, `_.-`; at most 64 characters);
- `token`: a token of client `default`;
- `name:sha256:<64 hex>`: a token of client `name` stored as its SHA-256 hash, so the
  parameter does not hold the token itself (`printf %s "$TOKEN" | sha256sum`).
A name listed twice has two valid tokens: that is a rotation. Tokens cannot contain `,` or `:`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from docsum.domain.document import CLIENT_NAME_PATTERN, DEFAULT_OWNER
from docsum.platform.observability import logger
from docsum.platform.settings import SettingsSlice
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token (API_TOKEN)")
TOKEN_CACHE_SECONDS = 300.0


class Unauthorized(Exception):
    pass


@dataclass(frozen=True)
class TokenSettings(SettingsSlice):
    """Where the accepted tokens come from: the setting, or the SSM parameter it names."""

    api_token: SecretStr | None
    api_token_parameter: str | None


@dataclass(frozen=True)
class Caller:
    """Who is calling: the client a bearer token belongs to. Its `name` owns the documents
    it submits (and is what per-client settings, e.g. webhook secrets, are keyed by)."""

    name: str = DEFAULT_OWNER


@dataclass(frozen=True)
class ClientToken:
    client: str
    secret: bytes  # the token, or the hex SHA-256 of it when `hashed`
    hashed: bool = False

    def matches(self, presented: bytes, presented_sha256: bytes) -> bool:
        return hmac.compare_digest(presented_sha256 if self.hashed else presented, self.secret)


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def parse_tokens(value: str) -> list[ClientToken]:
    """The entries of API_TOKEN / the SSM parameter; a malformed entry is skipped (logged
    without its value), never a way in."""
    tokens: list[ClientToken] = []
    for position, raw in enumerate(value.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        client, _, token = entry.rpartition(":") if ":" in entry else (DEFAULT_OWNER, "", entry)
        hashed = client == "sha256" or client.endswith(":sha256")
        if hashed:  # `name:sha256:<hex>`, or `sha256:<hex>` for client default
            client = client.removesuffix("sha256").removesuffix(":") or DEFAULT_OWNER
            token = token.lower()
        if not re.fullmatch(CLIENT_NAME_PATTERN, client) or not token:
            logger.warning("ignoring a malformed API token entry", extra={"entry": position})
            continue
        if hashed and not _SHA256_HEX.fullmatch(token):
            logger.warning("ignoring a token hash that is not 64 hex", extra={"entry": position})
            continue
        tokens.append(ClientToken(client, token.encode(), hashed))
    return tokens


def _ssm_parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    # Our own cache below decides when to re-read (and a test can move its clock).
    return str(parameters.get_parameter(name, decrypt=True, force_fetch=True))


class TokenSource:
    """The accepted tokens, from the setting or the SSM parameter (cached for `max_age`)."""

    def __init__(
        self,
        settings: TokenSettings,
        *,
        max_age: float = TOKEN_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str], str] = _ssm_parameter,
    ) -> None:
        self._parameter = settings.api_token_parameter
        configured = settings.api_token.get_secret_value().strip() if settings.api_token else ""
        self._static = parse_tokens(configured)
        # Auth is on whenever tokens are configured, even if none of them parses: a typo in
        # API_TOKEN locks everyone out instead of opening the API.
        self._configured = bool(configured)
        self._max_age = max_age
        self._clock = clock
        self._fetch = fetch
        self._cached: tuple[float, list[ClientToken]] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._parameter or self._configured)

    def tokens(self) -> list[ClientToken]:
        if not self._parameter:
            return self._static
        now = self._clock()
        if self._cached is None or now - self._cached[0] >= self._max_age:
            self._cached = (now, parse_tokens(self._fetch(self._parameter)))
        return self._cached[1]


def authenticate(credentials: HTTPAuthorizationCredentials | None, source: TokenSource) -> Caller:
    if not source.enabled:
        return Caller()
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    presented = credentials.credentials.encode()
    presented_sha256 = hashlib.sha256(presented).hexdigest().encode()
    # Compare against every token without stopping early: constant time in the token's value.
    matches = [t.client for t in source.tokens() if t.matches(presented, presented_sha256)]
    if not matches:
        raise Unauthorized("invalid bearer token")
    return Caller(matches[0])
