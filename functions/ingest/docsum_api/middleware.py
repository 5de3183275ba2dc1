"""Per-request plumbing around every route: correlation id, body-size guard, access log."""

from __future__ import annotations

import re
import time
import uuid

from docsum.platform.observability import flush_metrics, logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docsum_api.problems import problem

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(Exception):
    """A body without (or lying about) its Content-Length ran past the limit while read."""


class CorrelateAndLog:
    """Correlation id (`X-Request-ID`, accepted or generated, echoed), the oversized-body
    guard, one access-log line per call and the metrics flush. A plain ASGI middleware:
    Starlette's BaseHTTPMiddleware costs about a millisecond a request."""

    def __init__(self, app: ASGIApp, body_limit: int, file_body_limit: int | None = None) -> None:
        self.app = app
        self.body_limit = body_limit
        self.file_body_limit = file_body_limit or body_limit

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

        length = headers.get("content-length", "")
        is_file = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = self.file_body_limit if is_file else self.body_limit
        received = 0

        async def counted(message: Message) -> Message:
            # A chunked body has no Content-Length: reading stops at the limit, not the end.
            nonlocal received
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def receive_counted() -> Message:
            return await counted(await receive())

        detail = f"request body over {limit} bytes"
        if is_file:  # what API Gateway and a Lambda payload can carry
            detail += "; send larger files through POST /uploads (a presigned S3 upload)"
        too_large = problem(413, detail, slug="too-large", request_id=request_id)
        try:
            if length.isdigit() and int(length) > limit:
                await too_large(scope, receive, send_with_id)
            else:
                try:
                    await self.app(scope, receive_counted, send_with_id)
                except _BodyTooLarge:
                    await too_large(scope, receive, send_with_id)
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
