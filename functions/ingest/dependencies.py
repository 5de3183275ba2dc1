"""What routes receive, as `Annotated` dependencies: the service, the caller (authenticated
and within its rate limit), the settings.
`create_app` puts the real objects on `app.state`; tests may swap any of them with
`app.dependency_overrides`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from auth import Caller, TokenSource, Unauthorized, authenticate, bearer_scheme
from docsum.documents import DocumentService
from docsum.models import utc_now
from docsum.ports import RateLimiter
from docsum.settings import Settings
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from problems import ProblemError

ReadinessCheck = Callable[[], None]
_JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> DocumentService:
    service: DocumentService = request.app.state.service
    return service


def get_token_source(request: Request) -> TokenSource:
    source: TokenSource = request.app.state.tokens
    return source


def authenticated(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    source: Annotated[TokenSource, Depends(get_token_source)],
) -> Caller:
    try:
        return authenticate(credentials, source)
    except Unauthorized as exc:
        raise ProblemError(
            401, str(exc), slug="unauthorized", headers={"WWW-Authenticate": "Bearer"}
        ) from exc


def within_rate_limit(
    caller: Annotated[Caller, Depends(authenticated)], request: Request
) -> Caller:
    """Counts the request against the caller's window; 429 with Retry-After beyond it."""
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is None:
        return caller
    retry_after = limiter.hit(caller.name, utc_now())
    if retry_after is not None:
        raise ProblemError(
            429,
            f"rate limit of client {caller.name} reached; retry in {retry_after} s",
            slug="rate-limited",
            headers={"Retry-After": str(retry_after)},
        )
    return caller


def json_body(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if not _JSON_TYPES.match(content_type):
        raise ProblemError(
            415,
            f"content type {content_type or 'none'} is not supported; send application/json",
            slug="unsupported-media-type",
        )


Service = Annotated[DocumentService, Depends(get_service)]
CurrentCaller = Annotated[Caller, Depends(within_rate_limit)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
