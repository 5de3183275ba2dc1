"""The API's routes. Thin: each turns HTTP into one call of the document service."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from docsum.domain.document import DOCUMENT_ID_PATTERN, Document, Status
from docsum.domain.paging import CURSOR_PATTERN
from docsum.intake.submission import Submission
from docsum.platform.observability import logger
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from docsum_api.auth import Caller
from docsum_api.dependencies import (
    CurrentCaller,
    FileSubmission,
    ReadinessCheck,
    Service,
    Submitted,
    json_body,
    within_rate_limit,
)
from docsum_api.problems import problem, problem_responses, request_id
from docsum_api.schemas import (
    DocumentIn,
    DocumentList,
    DocumentOut,
    FileFields,
    Health,
    PresignedPostOut,
    Readiness,
    UploadIn,
    UploadOut,
)

DocumentId = Annotated[
    str, Path(pattern=DOCUMENT_ID_PATTERN, description="32 lowercase hex characters")
]

public = APIRouter()
# Every secured route: a known client (401 otherwise) within its rate limit (429 otherwise).
# Another client's document answers 404, exactly like a missing one: existence never leaks.
secured = APIRouter(dependencies=[Depends(within_rate_limit)], responses=problem_responses(429))


def _location(request: Request, document: Document) -> str:
    # Behind API Gateway the stage prefix (root_path) is part of the client's URL.
    return f"{request.scope.get('root_path', '')}/documents/{document.id}"


def _located(request: Request, response: Response, document: Document) -> DocumentOut:
    request.state.document_id = document.id
    response.headers["Location"] = _location(request, document)
    return DocumentOut.of(document)


# Declared optional although every submission needs a body (without one the answer is the 415
# or 422 the operation lists): openapi-python-client, the most used Python generator, emits an
# undefined `Unset` for a *required* body with two content types (its open issue #1451), so a
# client generated from this spec would not import. tests/unit/test_generated_client.py
# generates one and uses it.
_SUBMISSION_BODY = {
    "required": False,
    "description": "Required: JSON (`text` or `url`) or a multipart form (a file, or a text "
    "or url field). Declared optional only for generated clients (openapi-python-client #1451)",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/DocumentIn"}},
        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/DocumentFileForm"}},
    },
}


def _submission(
    fields: DocumentIn | FileFields | UploadIn, caller: Caller, request: Request
) -> Submission:
    """What the request carries besides its content, whichever way it came."""
    return Submission(
        request_id(request) or "",
        title=fields.title,
        owner=caller.name,
        options=fields.options(),
        callback_url=fields.callback_url,
    )


@secured.post(
    "/documents",
    status_code=202,
    response_model=DocumentOut,
    openapi_extra={"requestBody": _SUBMISSION_BODY},
    responses={
        200: {"model": DocumentOut, "description": "Already submitted: the same document"},
        **problem_responses(400, 401, 413, 415, 422),
    },
    summary="Submit a document for summarization: JSON text or a web page's URL, or a file as "
    "multipart/form-data",
)
def submit_document(
    body: Submitted, service: Service, caller: CurrentCaller, request: Request, response: Response
) -> DocumentOut:
    if isinstance(body, FileSubmission):
        about = _submission(body.fields, caller, request)
        submission = service.submit_file(body.data, body.filename, body.content_type, about)
    elif body.url is not None:
        submission = service.submit_url(body.url, _submission(body, caller, request))
    else:
        assert body.text is not None  # DocumentIn holds text or url
        submission = service.submit(body.text, _submission(body, caller, request))
    if not submission.created:
        response.status_code = 200
    return _located(request, response, submission.document)


@secured.post(
    "/uploads",
    status_code=201,
    response_model=UploadOut,
    dependencies=[Depends(json_body)],
    responses=problem_responses(400, 401, 413, 415, 422),
    summary="Start the upload of a large file: a presigned S3 POST; the upload starts the work",
)
def create_upload(
    body: UploadIn, service: Service, caller: CurrentCaller, request: Request, response: Response
) -> UploadOut:
    upload = service.create_upload(
        body.filename, body.content_type, body.size, _submission(body, caller, request)
    )
    request.state.document_id = upload.document.id
    location = _location(request, upload.document)
    response.headers["Location"] = location
    return UploadOut(
        id=upload.document.id,
        location=location,
        upload=PresignedPostOut(url=upload.post.url, fields=upload.post.fields),
        expires_at=upload.expires_at,
    )


@secured.get(
    "/documents/{document_id}",
    response_model=DocumentOut,
    responses=problem_responses(401, 404, 422),
    summary="Status and summary of a document",
)
def get_document(
    document_id: DocumentId, service: Service, caller: CurrentCaller, request: Request
) -> DocumentOut:
    request.state.document_id = document_id
    return DocumentOut.of(service.get(document_id, caller.name))


@secured.get(
    "/documents",
    response_model=DocumentList,
    responses=problem_responses(401, 422),
    summary="The caller's documents, newest first, a page at a time",
)
def list_documents(
    service: Service,
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=100, description="Documents per page")] = 20,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page (opaque)"),
    ] = None,
    status: Annotated[Status | None, Query(description="Only documents in this status")] = None,
) -> DocumentList:
    page = service.list(caller.name, limit, cursor, status)
    return DocumentList(items=[DocumentOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@secured.delete(
    "/documents/{document_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 404, 422),
    summary="Delete a document: its record, stored text and summary",
)
def delete_document(
    document_id: DocumentId, service: Service, caller: CurrentCaller, request: Request
) -> Response:
    request.state.document_id = document_id
    service.delete(document_id, caller.name)
    return Response(status_code=204)


@secured.post(
    "/documents/{document_id}/summarize",
    status_code=202,
    response_model=DocumentOut,
    responses=problem_responses(401, 404, 409, 422),
    summary="Summarize the document again (the current summary stays readable meanwhile)",
)
def resummarize(
    document_id: DocumentId,
    service: Service,
    caller: CurrentCaller,
    request: Request,
    response: Response,
) -> DocumentOut:
    document = service.resummarize(document_id, request_id(request) or "", caller.name)
    return _located(request, response, document)


@public.get("/health", response_model=Health, summary="Liveness")
def health() -> Health:
    return Health()


@secured.get(
    "/ready",
    response_model=Readiness,
    responses=problem_responses(401, 503),
    summary="Readiness: S3, SQS and DynamoDB answer (the LLM host is reported too)",
)
def ready(request: Request) -> Readiness | JSONResponse:
    required: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    informational: dict[str, ReadinessCheck] = request.app.state.informational_checks
    results = _run_checks({**required, **informational})
    failed = [name for name in required if not results[name].startswith("ok")]
    if failed:
        return problem(
            503,
            f"not answering: {', '.join(failed)}",
            slug="not-ready",
            request_id=request_id(request),
            checks=results,
        )
    return Readiness(status="ok", checks=results)


def _run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    """Each check: `ok` (with a description the check itself words, such as the model's
    name) or `failed`. What a dependency said (an error, a raw SDK response) goes to the log
    only: /ready answers any client."""

    def run(name: str, check: ReadinessCheck) -> str:
        try:
            detail = check()
        except Exception as exc:
            logger.warning(
                "readiness check failed",
                extra={"check": name, "error": f"{type(exc).__name__}: {str(exc)[:500]}"},
            )
            return "failed"
        return f"ok: {detail}" if isinstance(detail, str) and detail else "ok"

    if not checks:
        return {}
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(run, name, check) for name, check in checks.items()}
        return {name: future.result() for name, future in futures.items()}
