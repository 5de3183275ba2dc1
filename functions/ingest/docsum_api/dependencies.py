"""What routes receive, as `Annotated` dependencies: the service and the caller (authenticated
and within its rate limit).
`create_app` puts the real objects on `app.state`; tests may swap any of them with
`app.dependency_overrides`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from docsum.domain.document import utc_now
from docsum.intake.documents import DocumentService
from docsum.ports.rate_limit import RateLimiter
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ValidationError

from docsum_api.auth import Caller, TokenSource, Unauthorized, authenticate, bearer_scheme
from docsum_api.problems import ProblemError
from docsum_api.schemas import DOCUMENT_FILE_FORM, DocumentIn, FileFields

# A dependency check: raises when it fails; may say what it found ("ok: <that>").
ReadinessCheck = Callable[[], object]  # a `str` it returns describes the dependency
_JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


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


@dataclass(frozen=True)
class FileSubmission:
    data: bytes
    filename: str | None
    content_type: str | None
    fields: FileFields


async def document_submission(request: Request) -> DocumentIn | FileSubmission:
    """`POST /documents` takes JSON text or a multipart form with a file (or a text field)."""
    content_type = request.headers.get("content-type", "")
    if _JSON_TYPES.match(content_type):
        return _validated(DocumentIn, await request.body())
    if not content_type.lower().startswith("multipart/form-data"):
        raise ProblemError(
            415,
            f"content type {content_type or 'none'} is not supported; send application/json, "
            "or multipart/form-data with a file",
            slug="unsupported-media-type",
        )
    form = await request.form(max_files=1, max_fields=20)
    # A misspelt option must not be ignored silently: the form takes the spec's fields only.
    known = DOCUMENT_FILE_FORM["properties"]
    unknown = next((name for name in form if name not in known), None)
    if unknown is not None:
        raise _invalid(
            unknown,
            f"unknown form field {unknown!r}; the form takes {', '.join(known)}",
            "extra_forbidden",
        )
    file = form.get("file")
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if file is None or isinstance(file, str):
        if "text" not in values and "url" not in values:
            raise _invalid("file", "send a file part, or a text or url field")
        return _validated(DocumentIn, json.dumps(values))
    if "url" in values:
        raise _invalid("url", "send a file or a url, not both", "value_error")
    if "text" in values:  # the file is the document; a text field must still be valid
        _validated(DocumentIn, json.dumps({"text": values.pop("text")}))
    return FileSubmission(
        data=await file.read(),
        filename=file.filename,
        content_type=file.content_type,
        fields=_validated(FileFields, json.dumps(values)),
    )


def _validated[M: BaseModel](model: type[M], body: bytes | str) -> M:
    """The body as `model`, or the same 400/422 problems FastAPI gives a declared body."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from exc


def _invalid(field: str, message: str, kind: str = "missing") -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": kind}], body=None
    )


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
Submitted = Annotated[DocumentIn | FileSubmission, Depends(document_submission)]
