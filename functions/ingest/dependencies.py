"""What routes receive, as `Annotated` dependencies: the service, the caller, the settings.
`create_app` puts the real objects on `app.state`; tests may swap any of them with
`app.dependency_overrides`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from auth import Caller, TokenSource, Unauthorized, authenticate, bearer_scheme
from docsum.documents import DocumentService
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


def json_body(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if not _JSON_TYPES.match(content_type):
        raise ProblemError(
            415,
            f"content type {content_type or 'none'} is not supported; send application/json",
            slug="unsupported-media-type",
        )


Service = Annotated[DocumentService, Depends(get_service)]
CurrentCaller = Annotated[Caller, Depends(authenticated)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
