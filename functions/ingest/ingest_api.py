"""The HTTP API (FastAPI). `ingest_handler` wraps it with Mangum for Lambda; the local stack
serves the same app with uvicorn."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Annotated, Any

from auth import Unauthorized, bearer_scheme, check_bearer
from docsum.documents import DocumentService
from docsum.errors import DocumentNotFound, DocumentTooLarge
from docsum.models import DOCUMENT_ID_PATTERN, Document, Progress, Status
from docsum.observability import flush_metrics, logger
from docsum.settings import Settings
from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from problems import PROBLEM_MEDIA_TYPE, Problem, problem, problem_responses
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ReadinessCheck = Callable[[], None]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


class DocumentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"text": "The quick brown fox jumps over the lazy dog.", "title": "Fox"}]
        }
    )

    text: StrictStr = Field(min_length=1, description="The document; whitespace-only is rejected")
    title: StrictStr | None = Field(default=None, max_length=300)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must contain non-whitespace characters")
        return value


class DocumentOut(BaseModel):
    id: str
    title: str | None
    status: Status
    summary: str | None
    summary_chars: int | None
    model: str | None
    created_at: datetime
    updated_at: datetime
    summarized_at: datetime | None
    attempts: int
    error: str | None
    generation: int
    text_chars: int
    prompt_tokens: int | None
    completion_tokens: int | None
    model_seconds: float | None
    progress: Progress | None

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        return cls(
            **document.model_dump(
                include={
                    "id",
                    "title",
                    "status",
                    "summary",
                    "model",
                    "created_at",
                    "updated_at",
                    "summarized_at",
                    "attempts",
                    "error",
                    "generation",
                    "text_chars",
                    "prompt_tokens",
                    "completion_tokens",
                    "model_seconds",
                    "progress",
                }
            ),
            summary_chars=len(document.summary) if document.summary is not None else None,
        )


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = Field(description="ok: every AWS dependency answers")
    checks: dict[str, str] = Field(description="Each dependency: ok, or what failed")


DocumentId = Annotated[
    str, Path(pattern=DOCUMENT_ID_PATTERN, description="32 lowercase hex characters")
]


def create_app(
    settings: Settings,
    service: DocumentService,
    readiness_checks: dict[str, ReadinessCheck] | None = None,
    informational_checks: dict[str, ReadinessCheck] | None = None,
    root_path: str = "",
) -> FastAPI:
    app = FastAPI(
        title="docsum",
        version="1.0.0",
        summary="Submit documents and read their LLM summaries",
        root_path=root_path,
    )
    body_limit = settings.max_document_chars * 4 + 65_536  # UTF-8 and JSON escaping headroom

    def authorized(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> None:
        check_bearer(request, credentials, settings)

    def json_body(request: Request) -> None:
        content_type = request.headers.get("content-type", "")
        if not _JSON_TYPES.match(content_type):
            raise _UnsupportedMediaType(content_type or "none")

    secured = [Depends(authorized)]

    app.add_middleware(CorrelateAndLog, body_limit=body_limit)

    def rid(request: Request) -> str | None:
        return getattr(request.state, "request_id", None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        return problem(
            exc.status_code, detail, request_id=rid(request), headers=getattr(exc, "headers", None)
        )

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
                request_id=rid(request),
                errors=errors,
            )
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(
            422,
            f"{where}: {first['msg']}",
            slug="validation",
            request_id=rid(request),
            errors=errors,
        )

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return problem(
            401,
            str(exc),
            slug="unauthorized",
            request_id=rid(request),
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(_UnsupportedMediaType)
    async def unsupported(request: Request, exc: _UnsupportedMediaType) -> JSONResponse:
        return problem(
            415,
            f"content type {exc} is not supported; send application/json",
            slug="unsupported-media-type",
            request_id=rid(request),
        )

    @app.exception_handler(DocumentNotFound)
    async def not_found(request: Request, exc: DocumentNotFound) -> JSONResponse:
        return problem(404, f"no document {exc}", slug="not-found", request_id=rid(request))

    @app.exception_handler(DocumentTooLarge)
    async def too_large(request: Request, exc: DocumentTooLarge) -> JSONResponse:
        return problem(413, str(exc), slug="too-large", request_id=rid(request))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return problem(500, "internal error; retrying is safe", request_id=rid(request))

    def located(request: Request, response: Response, document: Document) -> DocumentOut:
        request.state.document_id = document.id
        response.headers["Location"] = f"{root_path}/documents/{document.id}"
        return DocumentOut.of(document)

    @app.post(
        "/documents",
        status_code=202,
        response_model=DocumentOut,
        dependencies=[*secured, Depends(json_body)],
        responses={
            200: {"model": DocumentOut, "description": "Already submitted: the same document"},
            **problem_responses(400, 401, 413, 415, 422),
        },
        summary="Submit a document for summarization",
    )
    def submit_document(body: DocumentIn, request: Request, response: Response) -> DocumentOut:
        submission = service.submit(body.text, body.title, rid(request) or "")
        if not submission.created:
            response.status_code = 200
        return located(request, response, submission.document)

    @app.get(
        "/documents/{document_id}",
        response_model=DocumentOut,
        dependencies=secured,
        responses=problem_responses(401, 404, 422),
        summary="Status and summary of a document",
    )
    def get_document(document_id: DocumentId, request: Request) -> DocumentOut:
        request.state.document_id = document_id
        return DocumentOut.of(service.get(document_id))

    @app.post(
        "/documents/{document_id}/summarize",
        status_code=202,
        response_model=DocumentOut,
        dependencies=secured,
        responses=problem_responses(401, 404, 422),
        summary="Summarize the document again (the current summary stays readable meanwhile)",
    )
    def resummarize(document_id: DocumentId, request: Request, response: Response) -> DocumentOut:
        return located(request, response, service.resummarize(document_id, rid(request) or ""))

    @app.get("/health", response_model=Health, summary="Liveness")
    def health() -> Health:
        return Health()

    @app.get(
        "/ready",
        response_model=Readiness,
        dependencies=secured,
        responses=problem_responses(401, 503),
        summary="Readiness: S3, SQS and DynamoDB answer (the LLM host is reported too)",
    )
    def ready(request: Request) -> Readiness | JSONResponse:
        required = readiness_checks or {}
        results = _run_checks({**required, **(informational_checks or {})})
        failed = [name for name in required if results[name] != "ok"]
        if failed:
            return problem(
                503,
                f"not answering: {', '.join(failed)}",
                slug="not-ready",
                request_id=rid(request),
                checks=results,
            )
        return Readiness(status="ok", checks=results)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            _problem_json_for_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class CorrelateAndLog:
    """Correlation id (`X-Request-ID`, accepted or generated, echoed), the oversized-body
    guard, one access-log line per call and the metrics flush. A plain ASGI middleware:
    Starlette's BaseHTTPMiddleware costs about a millisecond a request."""

    def __init__(self, app: ASGIApp, body_limit: int) -> None:
        self.app = app
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        state = scope.setdefault("state", {})  # what routes see as request.state
        state["request_id"] = request_id
        logger.set_correlation_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.body_limit:
                too_large = problem(
                    413,
                    f"request body over {self.body_limit} bytes",
                    slug="too-large",
                    request_id=request_id,
                )
                await too_large(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    "document_id": state.get("document_id"),
                },
            )
            flush_metrics()


class _UnsupportedMediaType(Exception):
    pass


def _run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    def run(check: ReadinessCheck) -> str:
        try:
            check()
        except Exception as exc:
            return f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        return "ok"

    if not checks:
        return {}
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(run, check) for name, check in checks.items()}
        return {name: future.result() for name, future in futures.items()}


def _problem_json_for_errors(schema: dict[str, Any]) -> None:
    """Error responses are documented as application/problem+json only."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
        Problem.model_json_schema()
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if not status.isdigit() or int(status) < 400:
                    continue
                response["content"] = {
                    PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
