"""One error shape for every error response: RFC 9457 `application/problem+json`.

Routes list the error statuses they can answer (`problem_responses`); `install` maps every
exception to a problem and `document` gives each listed status the problem+json body in the
OpenAPI spec — the one place that says what an error looks like."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from docsum.domain.errors import (
    CallbackUrlRefused,
    ClientBusy,
    DocumentNotFound,
    DocumentTooLarge,
    FileTooLarge,
    InvalidDocument,
    UploadPending,
)
from docsum.extract.kinds import UnsupportedFileType
from docsum.platform.observability import logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(default="about:blank", description="URI identifying the problem type")
    title: str = Field(description="Short, human-readable summary of the problem type")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="Explanation specific to this occurrence")
    request_id: str | None = Field(default=None, description="Correlation id of the request")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Validation errors, one per offending field"
    )
    checks: dict[str, str] | None = Field(
        default=None, description="Readiness: each dependency's state (ok or what failed)"
    )


class ProblemError(Exception):
    """Raise from a route or dependency to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers
        self.extra = extra


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    request_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    checks: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:docsum:problem:{slug}" if slug else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        request_id=request_id,
        errors=errors,
        checks=checks,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error statuses a route can answer, for its OpenAPI `responses`."""
    return {status: {"description": HTTPStatus(status).phrase} for status in statuses}


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install(app: FastAPI) -> None:
    """Answer every error, the framework's and the domain's, as a problem."""

    @app.exception_handler(ProblemError)
    async def raised(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(
            exc.status,
            exc.detail,
            slug=exc.slug,
            request_id=request_id(request),
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; a path served
            # by several routes (GET and POST /documents) allows all of theirs.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return problem(exc.status_code, detail, request_id=request_id(request), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                400,
                "the body is not valid JSON",
                slug="malformed-json",
                request_id=request_id(request),
                errors=errors,
            )
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(
            422,
            f"{where}: {first['msg']}",
            slug="validation",
            request_id=request_id(request),
            errors=errors,
        )

    @app.exception_handler(InvalidDocument)
    async def invalid_document(request: Request, exc: InvalidDocument) -> JSONResponse:
        return problem(
            422,
            f"{exc.field}: {exc}",
            slug="validation",
            request_id=request_id(request),
            errors=[{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}],
        )

    @app.exception_handler(CallbackUrlRefused)
    async def callback_refused(request: Request, exc: CallbackUrlRefused) -> JSONResponse:
        return problem(
            422,
            f"callback_url: {exc}",
            slug="callback-url-refused",
            request_id=request_id(request),
            errors=[{"loc": ["body", "callback_url"], "msg": str(exc), "type": "value_error"}],
        )

    @app.exception_handler(DocumentNotFound)
    async def not_found(request: Request, exc: DocumentNotFound) -> JSONResponse:
        return problem(404, f"no document {exc}", slug="not-found", request_id=request_id(request))

    @app.exception_handler(ClientBusy)
    async def client_busy(request: Request, exc: ClientBusy) -> JSONResponse:
        return problem(
            429,
            str(exc),
            slug="client-busy",
            request_id=request_id(request),
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(UploadPending)
    async def upload_pending(request: Request, exc: UploadPending) -> JSONResponse:
        return problem(409, str(exc), slug="upload-pending", request_id=request_id(request))

    @app.exception_handler(DocumentTooLarge)
    async def too_large(request: Request, exc: DocumentTooLarge) -> JSONResponse:
        return problem(413, str(exc), slug="too-large", request_id=request_id(request))

    @app.exception_handler(FileTooLarge)
    async def file_too_large(request: Request, exc: FileTooLarge) -> JSONResponse:
        detail = str(exc)
        if exc.setting == "MAX_DIRECT_UPLOAD_BYTES":  # the request path's limit, not S3's
            detail += "; send larger files through POST /uploads (a presigned S3 upload)"
        return problem(413, detail, slug="too-large", request_id=request_id(request))

    @app.exception_handler(UnsupportedFileType)
    async def unsupported_file(request: Request, exc: UnsupportedFileType) -> JSONResponse:
        return problem(415, str(exc), slug="unsupported-media-type", request_id=request_id(request))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return problem(500, "internal error; retrying is safe", request_id=request_id(request))


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers on this path (asked through the public `matches`)."""
    return [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(
            isinstance(route, BaseRoute)
            and route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]


def document(schema: dict[str, Any]) -> None:
    """Give every error response of the OpenAPI spec the problem+json body, and only that."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
    # FastAPI's own 422 schemas are replaced by Problem above; drop them if nothing uses them.
    if "HTTPValidationError" not in str(schema.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
