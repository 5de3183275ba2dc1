"""Bearer-token auth. Tokens: `API_TOKEN` (comma-separated, for rotation) or an SSM
SecureString named by `API_TOKEN_PARAMETER` (cached for five minutes, so a rotation reaches
warm functions without a deploy). No token configured at all means auth is off."""

from __future__ import annotations

import hmac

from aws_lambda_powertools.utilities import parameters
from docsum.settings import Settings
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token (API_TOKEN)")
_TOKEN_CACHE_SECONDS = 300


class Unauthorized(Exception):
    pass


def configured_tokens(settings: Settings) -> list[str]:
    if settings.api_token_parameter:
        value = parameters.get_parameter(
            settings.api_token_parameter, decrypt=True, max_age=_TOKEN_CACHE_SECONDS
        )
        return [t.strip() for t in str(value).split(",") if t.strip()]
    return settings.api_tokens()


def auth_enabled(settings: Settings) -> bool:
    return bool(settings.api_token_parameter or settings.api_tokens())


def check_bearer(
    request: Request, credentials: HTTPAuthorizationCredentials | None, settings: Settings
) -> None:
    if not auth_enabled(settings):
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    presented = credentials.credentials.encode()
    # Compare against every token without stopping early: constant time in the token's value.
    matches = [hmac.compare_digest(presented, t.encode()) for t in configured_tokens(settings)]
    if not any(matches):
        raise Unauthorized("invalid bearer token")
