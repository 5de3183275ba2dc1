"""Bearer-token auth. Tokens: `API_TOKEN` (comma-separated, for rotation) or an SSM
SecureString named by `API_TOKEN_PARAMETER` (re-read every five minutes, so a rotation reaches
warm functions without a deploy). No token configured at all means auth is off."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from docsum.settings import Settings
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token (API_TOKEN)")
TOKEN_CACHE_SECONDS = 300.0


class Unauthorized(Exception):
    pass


@dataclass(frozen=True)
class Caller:
    """Who is calling: the client a bearer token belongs to."""

    name: str = "default"


def parse_tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def _ssm_parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    # Our own cache below decides when to re-read (and a test can move its clock).
    return str(parameters.get_parameter(name, decrypt=True, force_fetch=True))


class TokenSource:
    """The accepted tokens, from the setting or the SSM parameter (cached for `max_age`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_age: float = TOKEN_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str], str] = _ssm_parameter,
    ) -> None:
        self._parameter = settings.api_token_parameter
        self._static = parse_tokens(
            settings.api_token.get_secret_value() if settings.api_token else ""
        )
        self._max_age = max_age
        self._clock = clock
        self._fetch = fetch
        self._cached: tuple[float, list[str]] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._parameter or self._static)

    def tokens(self) -> list[str]:
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
    # Compare against every token without stopping early: constant time in the token's value.
    matches = [hmac.compare_digest(presented, t.encode()) for t in source.tokens()]
    if not any(matches):
        raise Unauthorized("invalid bearer token")
    return Caller()
