"""The HTTP API (FastAPI): the app factory. Routes live in `routes.py`, their dependencies in
`dependencies.py`, the error shape in `problems.py`. `handler` wraps the app with
Mangum for Lambda; the local stack serves the same app with uvicorn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docsum.intake.documents import DocumentService
from docsum.ports.rate_limit import RateLimiter
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from docsum_api import problems, routes, schemas, web_page
from docsum_api.auth import TokenSettings, TokenSource
from docsum_api.dependencies import ReadinessCheck
from docsum_api.middleware import CorrelateAndLog

__all__ = ["ApiSettings", "ReadinessCheck", "create_app"]


@dataclass(frozen=True)
class ApiSettings(TokenSettings):
    """What the app itself reads: the tokens (`TokenSettings`) and the request bodies' limits.
    The use cases get their own slices (the service is built with `IntakeLimits`)."""

    max_document_chars: int
    max_direct_upload_bytes: int


def create_app(
    settings: ApiSettings,
    service: DocumentService,
    readiness_checks: dict[str, ReadinessCheck] | None = None,
    informational_checks: dict[str, ReadinessCheck] | None = None,
    tokens: TokenSource | None = None,
    rate_limiter: RateLimiter | None = None,
) -> FastAPI:
    app = FastAPI(
        title="docsum",
        version="1.0.0",
        summary="Submit documents and read their LLM summaries",
        redoc_url=None,  # /docs (Swagger UI) and /openapi.json are the documented ones
    )
    app.state.service = service
    app.state.tokens = tokens or TokenSource(settings)
    app.state.rate_limiter = rate_limiter
    app.state.readiness_checks = readiness_checks or {}
    app.state.informational_checks = informational_checks or {}

    # UTF-8 and JSON escaping headroom over the longest accepted text.
    app.add_middleware(
        CorrelateAndLog,
        body_limit=settings.max_document_chars * 4 + 65_536,
        # A file and its form fields.
        file_body_limit=settings.max_direct_upload_bytes + 65_536,
    )
    problems.install(app)
    app.include_router(routes.secured)
    app.include_router(routes.public)
    app.include_router(web_page.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                schemas.request_body_schemas()
            )
            problems.document(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
