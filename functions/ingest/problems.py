"""One error shape for every error response: RFC 9457 `application/problem+json`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

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
    """OpenAPI `responses` entries documenting problem+json bodies for these statuses."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }
